package plaid.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The wrapped marshaller's side; MalformedRequests over a real channel is tested in the sampler service. */
class MalformedRequestsTest {
    @Test
    void theFirstStringThatIsNotUtf8IsNamedByItsPath() throws IOException {
        // Struct{fields: {"k": Value{string_value: <invalid>}}}: a map entry's value inside a message.
        byte[] value = field(Value.STRING_VALUE_FIELD_NUMBER, new byte[] {(byte) 0xC3, (byte) 0x28});
        byte[] entry = concat(field(1, "k".getBytes()), field(2, value));
        byte[] struct = concat(
                field(Struct.FIELDS_FIELD_NUMBER, field(1, "ok".getBytes())), field(Struct.FIELDS_FIELD_NUMBER, entry));
        MethodDescriptor.Marshaller<Struct> original = ProtoUtils.marshaller(Struct.getDefaultInstance());
        assertThatThrownBy(() -> original.parse(new ByteArrayInputStream(struct)))
                .isInstanceOf(RuntimeException.class);
        RuntimeException failure = new RuntimeException("unparsable");
        assertThat(MalformedRequests.describe(Struct.getDescriptor(), struct, failure))
                .isEqualTo("fields[1].value.string_value is not valid UTF-8");
        assertThat(MalformedRequests.describe(Struct.getDescriptor(), new byte[] {(byte) 0xFF}, failure))
                .startsWith("request is not a valid google.protobuf.Struct message");
    }

    private static byte[] field(int number, byte[] value) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        out.writeBytes(number, ByteString.copyFrom(value));
        out.flush();
        return bytes.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = new byte[a.length + b.length];
        System.arraycopy(a, 0, both, 0, a.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }
}
