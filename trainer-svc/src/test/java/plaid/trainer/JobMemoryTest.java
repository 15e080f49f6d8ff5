package plaid.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;
import plaid.model.PlaidParameters;
import plaid.options.PlaidConfig;

class JobMemoryTest {
    private static final long GIB = 1L << 30;

    private static PlaidConfig readmeShape() {
        // the README's `plaid train submit` example
        return PlaidConfig.defaults()
                .set("dim", "128")
                .set("n_blocks", "4")
                .set("n_heads", "4")
                .set("seq_len", "64")
                .set("vocab_size", "2048")
                .set("batch_size", "16")
                .validate();
    }

    @Test
    void theParameterCountIsTheModels() {
        for (PlaidConfig c : new PlaidConfig[] {
            readmeShape(),
            PlaidConfig.defaults()
                    .set("dim", "96")
                    .set("n_blocks", "3")
                    .set("n_heads", "2")
                    .set("embed_dim", "8")
                    .set("vocab_size", "300")
                    .validate()
        }) {
            assertThat(JobMemory.parameterCount(c)).isEqualTo((double)
                    PlaidParameters.initialize(c, new CpuBackend(), 1).parameterCount());
        }
    }

    @Test
    void aSmallJobFitsAndTheIssuesShapesAreRefusedWithTheEstimate() {
        JobMemory small = JobMemory.of(readmeShape(), 4096);
        assertThat(small.totalBytes()).isBetween(10.0 * (1 << 20), 1.0 * GIB);
        small.requireFitsHeap(true, 2 * GIB);

        // issue 21's seq_len=100000000 and batch_size=99999998 are outside the option table's ranges
        // now; the largest shapes inside them still cannot fit
        PlaidConfig longShape = readmeShape()
                .set("seq_len", "8192")
                .set("batch_size", "4096")
                .set("vocab_size", "32768")
                .validate();
        JobMemory longSequences = JobMemory.of(longShape, 4096);
        double rows = longShape.batchSize * (longShape.selfcond ? 1.25 : 1) + longShape.valBatchSize;
        assertThat(longSequences.logitsBytes()).as("B×S×V floats, three times").isEqualTo(3 * rows * 8192 * 32768 * 4);
        assertThatThrownBy(() -> longSequences.requireFitsHeap(true, 64 * GIB))
                .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.RESOURCE_EXHAUSTED);
                    assertThat(e.getStatus().getDescription())
                            .contains("needs about")
                            .contains("TiB")
                            .contains("64.0 GiB");
                });
        JobMemory hugeBatch = JobMemory.of(
                readmeShape().set("batch_size", "4096").set("seq_len", "2048").validate(), 4096);
        assertThatThrownBy(() -> hugeBatch.requireFitsHeap(true, 64 * GIB)).hasMessageContaining("RESOURCE_EXHAUSTED");
        // on a GPU the activations are the device's: the heap holds the parameters' copies and the stream
        hugeBatch.requireFitsHeap(false, 64 * GIB);
    }

    @Test
    void eachDeviceHoldsAReplicaAndTheBatchIsShared() {
        JobMemory one = JobMemory.of(readmeShape(), 4096), four = JobMemory.of(readmeShape(), 4096, 4);
        assertThat(four.parameterBytes()).isEqualTo(4 * one.parameterBytes());
        assertThat(four.activationBytes()).isEqualTo(one.activationBytes());
        assertThat(four.logitsBytes()).isEqualTo(one.logitsBytes());
    }
}
