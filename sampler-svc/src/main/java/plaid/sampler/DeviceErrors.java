package plaid.sampler;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import plaid.backend.BackendException;

/** The status a failure on the device answers: full device memory is RESOURCE_EXHAUSTED, anything else INTERNAL. */
final class DeviceErrors {
    private DeviceErrors() {}

    static StatusRuntimeException status(RuntimeException e, String what) {
        if (e instanceof BackendException device && device.outOfDeviceMemory())
            return Status.RESOURCE_EXHAUSTED
                    .withDescription(what + ": device memory is full: " + e.getMessage())
                    .asRuntimeException();
        return Status.INTERNAL.withDescription(what + ": " + e).asRuntimeException();
    }
}
