package plaid.backend.cuda;

/**
 * The parts of one device that every face of it shares ({@link CudaBackend#withOptions}): built
 * once, in dependency order, and freed once, by whichever face is closed. The face passes its
 * {@link CudaOptions} to the parts on each call; none of them keeps options of its own.
 */
final class CudaParts {
    final CudaDevice device;
    final OpProfile profile;
    /** What the launcher and the memory do inside a {@link CapturedStep}, and the steps' native resources. */
    final StepCapture steps;

    final DeviceMemory memory;
    final KernelLibrary kernels;
    final Launcher launcher;
    final Bf16Handoff handoff;
    final Bf16Operands bf16;
    final Matmul matmul;
    /** Device-only intermediates (partial sums, attention deltas). */
    final DeviceMemory.Scratch workspace;

    final AlgebraKernels algebra;
    final NormKernels norms;
    final ActivationKernels activations;
    final AttentionKernels attention;
    final HeadKernels head;
    final OptimizerKernels optimizer;
    final FusedBlocks fused;

    /** @throws CudaException naming what is missing when no CUDA device and libraries are there */
    CudaParts(int deviceIndex) {
        device = new CudaDevice(deviceIndex);
        profile = new OpProfile(device::synchronizeAll);
        steps = new StepCapture();
        memory = new DeviceMemory(device, profile, steps);
        kernels = new KernelLibrary(device.computeCapability());
        launcher = new Launcher(device, kernels, profile, steps);
        handoff = new Bf16Handoff(launcher, memory);
        bf16 = new Bf16Operands(launcher, memory, handoff, steps);
        matmul = new Matmul(device, launcher, memory, bf16);
        workspace = memory.scratch();
        algebra = new AlgebraKernels(launcher, memory, workspace);
        norms = new NormKernels(launcher, handoff, workspace);
        activations = new ActivationKernels(launcher, memory, handoff);
        attention = new AttentionKernels(launcher, memory, workspace, bf16, handoff);
        head = new HeadKernels(launcher, memory, workspace);
        optimizer = new OptimizerKernels(launcher, memory);
        fused = new FusedBlocks(device, launcher, memory, matmul.lt, bf16, attention);
    }

    void close() {
        memory.close(() -> {
            steps.releaseAll();
            workspace.free();
            bf16.free();
            handoff.free();
            fused.free();
            kernels.close();
            matmul.close();
            device.close();
        });
    }
}
