package plaid.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import plaid.backend.Tensor;

/** NCCL through its bindings, on one GPU: a one-rank communicator's all-reduce is the identity. */
class NcclCommunicatorTest {

    @Test
    void reportsItsVersionAndMakesDistinctIds() {
        CudaRequirement.requireCuda();
        assertThat(NcclCommunicator.version()).isGreaterThanOrEqualTo(20000);
        byte[] a = NcclCommunicator.newUniqueId(), b = NcclCommunicator.newUniqueId();
        assertThat(a).hasSize(128);
        assertThat(Arrays.equals(a, b)).isFalse();
    }

    @Test
    void oneRankAllReduceCopiesItsInput() {
        CudaRequirement.requireCuda();
        try (CudaBackend backend = new CudaBackend();
                NcclCommunicator comm = NcclCommunicator.join(backend, NcclCommunicator.newUniqueId(), 1, 0)) {
            float[] values = new float[1000];
            for (int i = 0; i < values.length; i++) values[i] = i * 0.25f - 7f;
            Tensor in = backend.allocate(values.length), out = backend.allocate(values.length);
            backend.upload(values, in);
            comm.allReduceSum(in, out);
            assertThat(backend.download(out)).containsExactly(values);
            assertThat(comm.ranks()).isEqualTo(1);
            assertThatThrownBy(() -> comm.allReduceSum(in, backend.allocate(10)))
                    .hasMessageContaining("1000 into 10");
        }
    }

    @Test
    void refusesABadRankOrId() {
        CudaRequirement.requireCuda();
        try (CudaBackend backend = new CudaBackend()) {
            assertThatThrownBy(() -> NcclCommunicator.join(backend, new byte[5], 1, 0))
                    .hasMessageContaining("128 bytes");
            assertThatThrownBy(() -> NcclCommunicator.join(backend, new byte[128], 2, 2))
                    .hasMessageContaining("rank 2 outside [0, 2)");
        }
    }
}
