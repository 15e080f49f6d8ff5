package plaid.backend.cuda;

import plaid.backend.BackendException;

/** A CUDA, NVRTC, cuBLAS or NCCL call failed, or what the CUDA backend needs is missing. */
public class CudaException extends BackendException {
    public CudaException(String message) {
        super(message, false);
    }

    public CudaException(String message, boolean outOfDeviceMemory) {
        super(message, outOfDeviceMemory);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
