package plaid.trainer;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import plaid.backend.ComputeBackend;
import plaid.backend.ComputeBackends;
import plaid.model.CheckpointDirectory;
import plaid.model.PlaidParameters;
import plaid.model.sampling.LikelihoodEstimate;
import plaid.model.sampling.LikelihoodEvaluator;
import plaid.options.PlaidConfig;
import plaid.service.InvalidArgument;
import plaid.text.BpeTokenizer;
import plaid.text.ZeroShotDataset;
import plaid.v1.EvaluateLikelihoodProgress;
import plaid.v1.EvaluateLikelihoodRequest;
import plaid.v1.EvaluationRunning;
import plaid.v1.LikelihoodResult;

/**
 * EvaluateLikelihood: a checkpoint directory with its config.json and tokenizer.json (every
 * job checkpoint has them; released weights need them added) on a zero-shot raw file at the
 * top of data-svc's root, read with the original's detokenizer ({@link ZeroShotDataset}).
 */
@ApplicationScoped
public class LikelihoodEvaluations {
    private static final Set<String> SPLITS = Set.of("valid", "test");

    private final TrainerServiceConfig config;
    private final RunRoot root;

    LikelihoodEvaluations(TrainerServiceConfig config, RunRoot root) {
        this.config = config;
        this.root = root;
    }

    /**
     * A zero-shot raw file: at the top of data-svc's root (the corpus root), where data-svc lists it;
     * else at the top of the run root, where earlier versions kept them. NOT_FOUND says where to put it.
     */
    private Path rawFile(ZeroShotDataset dataset, String name) {
        for (Path dir : List.of(root.corpusRoot(), root.path())) {
            Path raw = dir.resolve(name);
            if (Files.isRegularFile(raw)) return raw;
        }
        throw Status.NOT_FOUND
                .withDescription("dataset " + dataset.id() + " needs the raw file " + name
                        + "; put it at the top of data-svc's data root"
                        + " (trainer-svc.corpus-root), where `plaid data list` shows which files each set needs")
                .asRuntimeException();
    }

    /** Checks the request, reports that it started, evaluates, then sends the result. */
    void evaluate(EvaluateLikelihoodRequest request, ServerCallStreamObserver<EvaluateLikelihoodProgress> call)
            throws IOException {
        Path folder = root.resolve(request.getCheckpoint(), "checkpoint");
        if (!Files.isDirectory(folder))
            throw Status.NOT_FOUND
                    .withDescription("no checkpoint " + request.getCheckpoint())
                    .asRuntimeException();
        CheckpointDirectory checkpoint;
        PlaidConfig options;
        Path tokenizerFile;
        try {
            checkpoint = CheckpointDirectory.open(root.path(), folder);
            options = checkpoint.config();
            tokenizerFile = checkpoint
                    .tokenizerFile()
                    .orElseThrow(() -> InvalidArgument.of(
                            "checkpoint", "has no " + CheckpointDirectory.TOKENIZER_FILE + " giving its tokenizer"));
        } catch (CheckpointDirectory.Unusable e) {
            throw InvalidArgument.of("checkpoint", e.getMessage());
        }
        ZeroShotDataset dataset;
        try {
            dataset = ZeroShotDataset.byId(request.getDataset());
        } catch (IllegalArgumentException e) {
            throw InvalidArgument.of("dataset", e.getMessage());
        }
        boolean hasSplits = !dataset.rawFileName("valid").equals(dataset.rawFileName("test"));
        InvalidArgument.require(
                !hasSplits || SPLITS.contains(request.getSplit()),
                "split",
                "must be valid or test, got '" + request.getSplit() + "'");
        InvalidArgument.require(request.getSeqLen() >= 0, "seq_len", "must not be negative");
        InvalidArgument.require(request.getBatchSize() >= 0, "batch_size", "must not be negative");
        InvalidArgument.require(request.getMaxSequences() >= 0, "max_sequences", "must not be negative");
        Path raw = rawFile(dataset, dataset.rawFileName(request.getSplit()));

        BpeTokenizer tokenizer = BpeTokenizer.load(tokenizerFile);
        ZeroShotDataset.EvalText text = dataset.read(raw);
        int[] tokens = tokenizer.encode(text.text());
        int seqLen = request.getSeqLen() > 0 ? request.getSeqLen() : options.seqLen;
        int sequences = Math.ceilDiv(tokens.length, seqLen);
        int samples = request.getMaxSequences() > 0 ? Math.min(request.getMaxSequences(), sequences) : sequences;
        call.onNext(EvaluateLikelihoodProgress.newBuilder()
                .setRunning(EvaluationRunning.newBuilder()
                        .setSequencesTotal(samples)
                        .setNllSoFar(Double.NaN))
                .build());

        LikelihoodEstimate estimate;
        try (ComputeBackend backend = ComputeBackends.create(config.backend())) {
            PlaidParameters params = checkpoint.loadWeights(options, backend);
            estimate = new LikelihoodEvaluator(options, params).evaluate(tokens, seqLen, samples, request.getSeed());
        }
        boolean words = text.unit() == ZeroShotDataset.CountUnit.WORDS;
        call.onNext(EvaluateLikelihoodProgress.newBuilder()
                .setResult(LikelihoodResult.newBuilder()
                        .setDataset(dataset.id())
                        .setTotalNll(estimate.nllPerToken() * estimate.corpusTokens())
                        .setTokens(estimate.corpusTokens())
                        .setUnits(text.units())
                        .setUnit(words ? LikelihoodResult.Unit.UNIT_WORDS : LikelihoodResult.Unit.UNIT_CHARACTERS)
                        .setPerplexityOrBpc(
                                words
                                        ? estimate.wordPerplexity(text.units())
                                        : estimate.bitsPerCharacter(text.units())))
                .build());
        call.onCompleted();
    }
}
