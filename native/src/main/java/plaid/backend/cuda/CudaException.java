package plaid.backend.cuda;

/** A CUDA, NVRTC or cuBLAS call failed, or what the backend needs is missing. */
public class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
