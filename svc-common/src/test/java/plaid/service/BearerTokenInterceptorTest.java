package plaid.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BearerTokenInterceptorTest {
    private static SmallRyeConfig config(Map<String, String> values) {
        return new SmallRyeConfigBuilder()
                .withSources(new PropertiesConfigSource(values, "test", 500))
                .build();
    }

    @Test
    void aBlankTokenIsRefusedNotTakenAsAuthOff() {
        for (String blank : new String[] {"", " ", "\t"}) {
            assertThatThrownBy(() -> new BearerTokenInterceptor(config(Map.of(BearerTokenInterceptor.PROPERTY, blank))))
                    .as("token %s", blank.codePoints().boxed().toList())
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("plaid.auth.token")
                    .hasMessageContaining("blank");
        }
    }

    @Test
    void anUnsetTokenIsAuthOffAndASetOneIsKept() {
        assertThat(BearerTokenInterceptor.token(config(Map.of())
                        .getConfigValue(BearerTokenInterceptor.PROPERTY)
                        .getRawValue()))
                .isEmpty();
        assertThat(BearerTokenInterceptor.token(config(Map.of(BearerTokenInterceptor.PROPERTY, "s3cret"))
                        .getConfigValue(BearerTokenInterceptor.PROPERTY)
                        .getRawValue()))
                .hasValueSatisfying(
                        t -> assertThat(new String(t, StandardCharsets.UTF_8)).isEqualTo("s3cret"));
    }
}
