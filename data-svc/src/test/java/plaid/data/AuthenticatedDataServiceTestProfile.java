package plaid.data;

import java.util.HashMap;
import java.util.Map;

/** The test profile with bearer-token authentication on. */
public class AuthenticatedDataServiceTestProfile extends DataServiceTestProfile {
    static final String TOKEN = "test-secret";

    @Override
    public Map<String, String> getConfigOverrides() {
        Map<String, String> overrides = new HashMap<>(super.getConfigOverrides());
        overrides.put("plaid.auth.token", TOKEN);
        return overrides;
    }
}
