package plaid.backend;

import java.util.Locale;
import plaid.backend.cpu.CpuBackend;
import plaid.backend.cuda.CudaBackend;

/** Picks a {@link ComputeBackend} by name: "cpu", "cuda", or "auto" (CUDA when usable, else the CPU). */
public final class ComputeBackends {
    private ComputeBackends() {}

    /** The system property that names the backend of {@link #fromSystemProperty()}. */
    public static final String PROPERTY = "plaid.backend";

    /**
     * @throws BackendException for "cuda" on a machine without a usable GPU (the message says what is missing)
     * @throws IllegalArgumentException for an unknown name
     */
    public static ComputeBackend create(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "cpu" -> new CpuBackend();
            case "cuda" -> new CudaBackend();
            case "auto" ->
                CudaBackend.unavailableReason()
                        .<ComputeBackend>map(reason -> {
                            // a deployment that expected the GPU reads here why it did not get it (CudaBackend logs
                            // what it loaded)
                            System.getLogger(ComputeBackends.class.getName())
                                    .log(
                                            System.Logger.Level.INFO,
                                            "CUDA backend unavailable (" + reason + "); using the CPU backend");
                            return new CpuBackend();
                        })
                        .orElseGet(CudaBackend::new);
            default ->
                throw new IllegalArgumentException(
                        "unknown compute backend '" + name + "': expected cpu, cuda or auto");
        };
    }

    /** The backend {@code -Dplaid.backend} names, the CPU when it is unset. */
    public static ComputeBackend fromSystemProperty() {
        return create(System.getProperty(PROPERTY, "cpu"));
    }
}
