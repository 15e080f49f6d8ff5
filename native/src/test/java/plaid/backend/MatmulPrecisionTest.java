package plaid.backend;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import plaid.backend.cpu.CpuBackend;

class MatmulPrecisionTest {

    @Test
    void roundsToTenMantissaBitsNearestEven() {
        float ulp = Math.ulp(1f) * (1 << 13); // TF32's spacing at 1: 2^-10
        assertThat(MatmulPrecision.roundToTf32(1f + ulp / 2 - Math.ulp(1f))).isEqualTo(1f); // below half: down
        assertThat(MatmulPrecision.roundToTf32(1f + ulp / 2 + Math.ulp(1f))).isEqualTo(1f + ulp); // above half: up
        assertThat(MatmulPrecision.roundToTf32(1f + ulp / 2)).isEqualTo(1f); // tie: to the even neighbour 1
        assertThat(MatmulPrecision.roundToTf32(1f + 1.5f * ulp))
                .isEqualTo(1f + 2 * ulp); // tie: to the even neighbour 1 + 2ulp
        assertThat(MatmulPrecision.roundToTf32(-3f - ulp / 4)).isEqualTo(-3f);
        assertThat(MatmulPrecision.roundToTf32(Float.POSITIVE_INFINITY)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(MatmulPrecision.roundToTf32(Float.NaN)).isNaN();
    }

    @Test
    void isScopedToTheCallingThread() throws Exception {
        assertThat(MatmulPrecision.tf32()).isFalse();
        boolean elsewhere = MatmulPrecision.withTf32(() -> {
            assertThat(MatmulPrecision.tf32()).isTrue();
            return CompletableFuture.supplyAsync(MatmulPrecision::tf32).join();
        });
        assertThat(elsewhere).isFalse();
        assertThat(MatmulPrecision.tf32()).isFalse();
    }

    @Test
    void cpuGemmRoundsItsOperandsUnderTf32() {
        ComputeBackend be = new CpuBackend();
        float x = 1f + Math.ulp(1f) * 3; // not a TF32 value: rounds to 1
        Tensor a = be.allocate(1, 1), b = be.allocate(1, 1), c = be.allocate(1, 1);
        be.upload(new float[] {x}, a);
        be.upload(new float[] {x}, b);
        be.gemm(false, false, 1f, a, b, 0f, c);
        assertThat(be.download(c)[0]).isEqualTo(x * x);
        MatmulPrecision.withTf32(() -> {
            be.gemm(false, false, 1f, a, b, 0f, c);
            return null;
        });
        assertThat(be.download(c)[0]).isEqualTo(1f);
    }
}
