package plaid.model.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.SequencedMap;
import plaid.tensor.HostTensor;

/** The two on-disk forms of a state dict, each stored as {@code <module><extension>}. */
public enum CheckpointFormat {
    /** PyTorch's torch.save zip, as the original Plaid code writes it. */
    TORCH(".pt") {
        @Override
        public LinkedHashMap<String, HostTensor> readFile(Path file) throws IOException {
            return TorchCheckpoint.read(file);
        }

        @Override
        void writeFile(Path file, SequencedMap<String, HostTensor> stateDict) throws IOException {
            TorchCheckpoint.write(file, stateDict);
        }
    },
    SAFETENSORS(".safetensors") {
        @Override
        public LinkedHashMap<String, HostTensor> readFile(Path file) throws IOException {
            return Safetensors.read(file);
        }

        @Override
        void writeFile(Path file, SequencedMap<String, HostTensor> stateDict) throws IOException {
            Safetensors.write(file, stateDict);
        }
    };

    private final String extension;

    CheckpointFormat(String extension) {
        this.extension = extension;
    }

    /** The file extension, with its dot. */
    public String extension() {
        return extension;
    }

    /** Where the state dict of {@code module} lives in {@code directory}. */
    public Path file(Path directory, String module) {
        return directory.resolve(module + extension);
    }

    /** Reads {@code <directory>/<module><extension>}; a missing file is a {@link NoSuchFileException} naming it. */
    public LinkedHashMap<String, HostTensor> read(Path directory, String module) throws IOException {
        Path file = file(directory, module);
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(
                    file.toString(), null, "no " + name().toLowerCase() + " checkpoint of module '" + module + "'");
        }
        return readFile(file);
    }

    public void write(Path directory, String module, SequencedMap<String, HostTensor> stateDict) throws IOException {
        writeFile(file(directory, module), stateDict);
    }

    /** Reads one state-dict file of this format. */
    public abstract LinkedHashMap<String, HostTensor> readFile(Path file) throws IOException;

    abstract void writeFile(Path file, SequencedMap<String, HostTensor> stateDict) throws IOException;
}
