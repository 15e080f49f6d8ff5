package plaid.backend;

/**
 * A compute backend's device call failed, or what the backend needs is missing; callers that
 * answer for the device (a service's error reply) catch this rather than one backend's type.
 */
public class BackendException extends RuntimeException {
    private final boolean outOfDeviceMemory;

    public BackendException(String message, boolean outOfDeviceMemory) {
        super(message);
        this.outOfDeviceMemory = outOfDeviceMemory;
    }

    public BackendException(String message, Throwable cause) {
        super(message, cause);
        this.outOfDeviceMemory = false;
    }

    /** Whether the device's memory was full: the work may fit later or smaller, nothing is broken. */
    public boolean outOfDeviceMemory() {
        return outOfDeviceMemory;
    }
}
