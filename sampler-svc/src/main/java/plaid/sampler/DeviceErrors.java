package plaid.sampler;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import plaid.backend.cuda.CudaException;

/** The status a failure on the device answers: full device memory is RESOURCE_EXHAUSTED, anything else INTERNAL. */
final class DeviceErrors {
    /** CudaDriver names the CUresult in its messages; 2 is CUDA_ERROR_OUT_OF_MEMORY. */
    private static final String OUT_OF_MEMORY = "(CUresult 2)";

    private DeviceErrors() {}

    static StatusRuntimeException status(RuntimeException e, String what) {
        if (e instanceof CudaException && e.getMessage() != null && e.getMessage().contains(OUT_OF_MEMORY))
            return Status.RESOURCE_EXHAUSTED.withDescription(what + ": device memory is full: " + e.getMessage()).asRuntimeException();
        return Status.INTERNAL.withDescription(what + ": " + e).asRuntimeException();
    }
}
