package plaid.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import plaid.backend.cpu.CpuBackend;
import plaid.fixtures.FixtureRoot;
import plaid.model.PlaidParameters;

/**
 * The sampler replaying the original's recorded noise against every {@code sampler/*}
 * directory: the final argmax tokens must agree with sample.py's almost everywhere (the
 * issue's 99.9% unguided, 99% guided). Only near-ties can flip. The recordings follow
 * sample.py in running matrix products in TF32 (it sets allow_tf32 before generating): in
 * plain float32 the small fixture's call0 agrees at 2045/2048, as a PyTorch float32 re-run
 * does, and with TF32 emulated at 2047; a PyTorch TF32 re-run with attention through the SDPA
 * math path agrees at 2048 (gpu/oracle/sampler_oracle.py). Guidance adds a backward pass with
 * its own rounding.
 */
class SamplerFixtureTest {
    private static final double UNGUIDED_AGREEMENT = 0.999;
    private static final double GUIDED_AGREEMENT = 0.99;

    @TestFactory
    Stream<DynamicTest> samplesMatchTheOriginal() {
        List<Path> dirs = FixtureRoot.directories("sampler");
        Assumptions.assumeFalse(dirs.isEmpty(), FixtureRoot.missingReason("sampler"));
        return dirs.stream().flatMap(dir -> {
            try {
                SamplerFixture f = SamplerFixture.load(dir);
                return f.calls().stream()
                        .map(c -> DynamicTest.dynamicTest(dir.getFileName() + " call" + c, () -> replay(f, c)));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    private static void replay(SamplerFixture f, int c) throws Exception {
        PlaidParameters params = f.parameters(new CpuBackend());
        SamplingRequest request = f.request(c);
        int[][] samples =
                new DiffusionSampler(f.config(), params, request.seqLen()).sample(request, f.recordedNoise(c));

        int[] expected = f.tensor("call" + c + ".samples").toInts();
        int agree = 0;
        for (int b = 0; b < request.samples(); b++) {
            for (int p = 0; p < request.seqLen(); p++) if (samples[b][p] == expected[b * request.seqLen() + p]) agree++;
        }
        double rate = (double) agree / expected.length;
        System.out.printf(
                "sampler fixture %s call%d: %d/%d positions agree (%.4f)%n",
                f.dir().getFileName(), c, agree, expected.length, rate);
        assertThat(rate)
                .as("agreement with the original's samples")
                .isGreaterThanOrEqualTo(request.guidance().isEmpty() ? UNGUIDED_AGREEMENT : GUIDED_AGREEMENT);
    }
}
