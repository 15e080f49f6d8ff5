package plaid.backend.cuda;

/** What one kind of device operation took in total while {@link CudaBackend#profileOps} was on. */
public record OpTiming(String op, long calls, double milliseconds) {}
