/**
 * Which Arrow types the engine sorts and carries, and how native code sees each: a physical
 * type and a width (native/core/column_types.h). The logical type stays in the Arrow schema
 * and is put back on output.
 */
import { type DataType, type Field, Type } from 'apache-arrow';
import { ColumnNotFoundError, UnsupportedTypeError } from '../errors.js';
import { type NativeColumnType, PhysicalType } from '../native/addon.js';

export const SUPPORTED_TYPES =
  'int8–int64, uint8–uint64, float32, float64, bool, date32, date64, timestamp (any unit), time32, ' +
  'time64, duration, decimal128, utf8, large utf8, binary, large binary, fixed-size binary, and ' +
  'dictionaries of these (decoded)';

function native(physical: PhysicalType, width: number, decimalFitsInt64 = false): NativeColumnType {
  return { physical, width, decimalFitsInt64 };
}

/** The native type of an Arrow type, or undefined when it is not supported (dictionaries among
 *  them: operators decode those first). */
export function nativeTypeOf(type: DataType): NativeColumnType | undefined {
  // The narrowed properties below are read through `any`-free structural views.
  const t = type as DataType & {
    bitWidth?: number;
    isSigned?: boolean;
    precision?: number;
    unit?: number;
    byteWidth?: number;
  };
  switch (type.typeId) {
    case Type.Int:
      return native(t.isSigned ? PhysicalType.INT : PhysicalType.UINT, t.bitWidth! / 8);
    case Type.Float:
      // Precision: 0 half, 1 single, 2 double.
      return t.precision === 1 ? native(PhysicalType.FLOAT, 4) : t.precision === 2 ? native(PhysicalType.FLOAT, 8) : undefined;
    case Type.Bool:
      return native(PhysicalType.BOOL, 1);
    case Type.Date:
      // DateUnit: 0 day (int32), 1 millisecond (int64).
      return native(PhysicalType.INT, t.unit === 0 ? 4 : 8);
    case Type.Time:
      return native(PhysicalType.INT, t.bitWidth! / 8);
    case Type.Timestamp:
    case Type.Duration:
      return native(PhysicalType.INT, 8);
    case Type.Decimal:
      return t.bitWidth === 128 ? native(PhysicalType.DECIMAL128, 16, t.precision! <= 18) : undefined;
    case Type.Utf8:
    case Type.Binary:
      return native(PhysicalType.VAR_BINARY, 4);
    case Type.LargeUtf8:
    case Type.LargeBinary:
      return native(PhysicalType.VAR_BINARY, 8);
    case Type.FixedSizeBinary:
      return native(PhysicalType.FIXED_BINARY, t.byteWidth!);
    default:
      return undefined;
  }
}

/** The native type of a field; UnsupportedTypeError naming the column otherwise. */
export function nativeColumnType(field: Field): NativeColumnType {
  const type = nativeTypeOf(field.type);
  if (!type) throw new UnsupportedTypeError(field.name, String(field.type), SUPPORTED_TYPES);
  return type;
}

/** The index of the field named `name`; ColumnNotFoundError listing the names otherwise. */
export function fieldIndex(fields: readonly Field[], name: string): number {
  const index = fields.findIndex((f) => f.name === name);
  if (index < 0) throw new ColumnNotFoundError(name, fields.map((f) => f.name));
  return index;
}
