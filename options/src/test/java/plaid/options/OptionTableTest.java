package plaid.options;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import plaid.v1.Reporting;

/** The table is complete and consistent: every proto field and every PlaidConfig field has one row, and the defaults are in range. */
class OptionTableTest {
    /** Reporting's fields that are the trainer service's, not train.py's. */
    private static final Set<String> SERVICE_FIELDS = Set.of(
            Reporting.getDescriptor().getFullName() + ".checkpoint_freq",
            Reporting.getDescriptor().getFullName() + ".keep_checkpoints");

    @Test
    void everyFieldOfTheOptionMessagesIsOneRowOfItsType() {
        for (OptionGroup group : OptionGroup.values()) {
            Descriptor message = SpecOptions.message(group).orElse(null);
            if (message == null) {
                assertThat(OptionTable.of(group))
                        .as(group + " has no message")
                        .allSatisfy(o -> assertThat(o.field()).isNull());
                continue;
            }
            for (FieldDescriptor field : message.getFields()) {
                if (SERVICE_FIELDS.contains(field.getFullName())) {
                    assertThat(SpecOptions.optionOf(field))
                            .as(field.getFullName())
                            .isEmpty();
                    continue;
                }
                Option<?> option = SpecOptions.optionOf(field)
                        .orElseThrow(() -> new AssertionError(field.getFullName() + " has no row"));
                assertThat(option.group()).isEqualTo(group);
                assertThat(field.hasPresence())
                        .as(field.getFullName() + " must be optional: unset takes the default")
                        .isTrue();
                assertThat(field.getDefaultValue().getClass())
                        .as(field.getFullName())
                        .isEqualTo(option.kind().type());
            }
            for (Option<?> option : OptionTable.of(group)) {
                assertThat(option.field()).as(option.name()).isNotNull();
                assertThat(message.findFieldByName(option.field()))
                        .as(option.name() + "'s field")
                        .isNotNull();
            }
        }
    }

    @Test
    void namesAreUniqueAndDefaultsAreInRange() {
        assertThat(OptionTable.ALL.stream().map(Option::name)).doesNotHaveDuplicates();
        PlaidConfig defaults = PlaidConfig.defaults().validate();
        for (Option<?> option : OptionTable.ALL) {
            assertThat(option.get(defaults)).as(option.name()).isEqualTo(option.defaultValue());
            assertThat(option.doc()).as(option.name()).isNotBlank();
            assertThat(option.range().toString()).as(option.name()).isNotBlank();
        }
    }

    /** Each row reads and writes its own field of PlaidConfig, and every field has a row. */
    @Test
    void everyPlaidConfigFieldIsOneRow() throws IllegalAccessException {
        List<Field> fields = Arrays.stream(PlaidConfig.class.getDeclaredFields())
                .filter(f -> !Modifier.isStatic(f.getModifiers()) && Modifier.isPublic(f.getModifiers()))
                .toList();
        assertThat(OptionTable.ALL).hasSameSizeAs(fields);
        Set<String> written = new HashSet<>();
        for (Option<?> option : OptionTable.ALL) {
            PlaidConfig config = PlaidConfig.defaults();
            setToOther(config, option);
            PlaidConfig defaults = PlaidConfig.defaults();
            for (Field f : fields) {
                if (!java.util.Objects.equals(f.get(config), f.get(defaults)))
                    assertThat(written.add(f.getName()))
                            .as(option.name() + " writes " + f.getName() + " again")
                            .isTrue();
            }
            assertThat(written)
                    .as(option.name() + " writes a field")
                    .hasSizeGreaterThanOrEqualTo(OptionTable.ALL.indexOf(option) + 1);
        }
        assertThat(written).hasSize(fields.size());
    }

    @SuppressWarnings("unchecked")
    private static <T> void setToOther(PlaidConfig config, Option<T> option) {
        Object other = switch (option.kind().toString()) {
            case "int" -> 7;
            case "long" -> 7L;
            case "float" -> 0.125;
            case "bool" -> !Boolean.TRUE.equals(option.defaultValue());
            default -> "other";
        };
        option.set(config, (T) other);
    }

    /** A row with no PlaidConfig field: PlaidConfig holds its value, typed, from its default on. */
    @Test
    void aRowWithoutAFieldIsHeldByTheConfig() {
        Option<Integer> row = new Option<>(
                "new_option",
                OptionGroup.RUN,
                null,
                OptionKind.INT,
                false,
                3,
                Range.ints(0, 5),
                "a new option",
                null,
                null);
        PlaidConfig config = PlaidConfig.defaults();
        assertThat(config.get(row)).isEqualTo(3);
        row.parseInto(config, "4");
        assertThat(config.get(row)).isEqualTo(4);
        assertThat(config.copy().get(row)).isEqualTo(4);
        config.set(row, 9);
        assertThat(row.problem(config.get(row))).isEqualTo("must be at most 5, got 9");
        assertThat(PlaidConfig.defaults().get(row)).isEqualTo(3);
    }
}
