/**
 * Aggregate functions as the user names them, and the Arrow types they produce.
 *
 * | function     | input                  | result (final, complete)        | partial buffer columns            |
 * |--------------|------------------------|---------------------------------|-----------------------------------|
 * | `count(*)`   | none                   | int64, never null               | `count(*)`: int64                 |
 * | `count(c)`   | any type               | int64 (non-null values)         | `count(c)`: int64                 |
 * | `sum(c)`     | integers (any width)   | int64, null when no value; an   | `sum(c)`: int64                   |
 * |              |                        | overflow is ARITHMETIC_OVERFLOW |                                   |
 * | `sum(c)`     | float32, float64       | float64, null when no value     | `sum(c)`: float64                 |
 * | `min`/`max`  | any type but nested    | the input's type, null when     | `min(c)`: the input's type        |
 * |              |                        | no value                        |                                   |
 * | `avg(c)`     | integers, floats       | float64 = sum / count, null     | `avg(c).sum`: float64,            |
 * |              |                        | when no value                   | `avg(c).count`: int64             |
 *
 * Nulls are skipped by every function but count(*). min and max order values as the sorter
 * does: floats in total order (-0 < +0 < ... < +inf < NaN), strings and binary by unsigned
 * bytes. Spark's rules, except that an integer sum fails instead of wrapping (Spark's ANSI
 * mode) and that avg of an integer column sums in float64 as Spark's does.
 */
import { type DataType, Field, Float64, Int64, Type } from 'apache-arrow';
import { InvalidArgumentError, UnsupportedTypeError } from '../errors.js';
import { AggregateFunction, type NativeAggregateSpec } from '../native/addon.js';
import { fieldIndex } from '../sort/columnTypes.js';

export type AggregateFunctionName = 'count' | 'sum' | 'min' | 'max' | 'avg';

/** One aggregate: `{ fn: 'sum', column: 'v' }`; count without a column is count(*). `as`
 *  names the result (default: "sum(v)"). A string such as "sum(v)", "count(*)" or
 *  "avg(v) as mean" says the same. */
export interface AggregateSpec {
  readonly fn: AggregateFunctionName;
  readonly column?: string;
  readonly as?: string;
}

/** An aggregate resolved against a schema. */
export interface ResolvedAggregate {
  readonly function: AggregateFunction;
  readonly name: string;
  /** The input field it reads; undefined for count(*). */
  readonly input: Field | undefined;
}

const FUNCTIONS: Record<AggregateFunctionName, AggregateFunction> = {
  count: AggregateFunction.COUNT,
  sum: AggregateFunction.SUM,
  min: AggregateFunction.MIN,
  max: AggregateFunction.MAX,
  avg: AggregateFunction.AVG,
};

const SPEC_PATTERN = /^\s*(count|sum|min|max|avg)\s*\(\s*([^()]*?)\s*\)\s*(?:as\s+(.+?))?\s*$/i;

export function parseAggregate(input: string | AggregateSpec): AggregateSpec {
  if (typeof input !== 'string') return input;
  const match = SPEC_PATTERN.exec(input);
  if (!match) {
    throw new InvalidArgumentError(
      `cannot read the aggregate "${input}"; write e.g. "count(*)", "sum(v)", "min(v)", "max(v)" or "avg(v) as mean"`,
    );
  }
  const fn = match[1]!.toLowerCase() as AggregateFunctionName;
  const column = match[2]!;
  return { fn, ...(column === '*' || column === '' ? {} : { column }), ...(match[3] ? { as: match[3] } : {}) };
}

function isNumber(type: DataType): boolean {
  return type.typeId === Type.Int || (type.typeId === Type.Float && (type as DataType & { precision: number }).precision > 0);
}

/** Resolves the aggregates against the input fields; ColumnNotFoundError or UnsupportedTypeError
 *  name the column. */
export function resolveAggregates(specs: readonly (string | AggregateSpec)[], fields: readonly Field[]): ResolvedAggregate[] {
  return specs.map((raw) => {
    const spec = parseAggregate(raw);
    if (!Object.hasOwn(FUNCTIONS, spec.fn)) {
      throw new InvalidArgumentError(`unknown aggregate function "${String(spec.fn)}"; use count, sum, min, max or avg`);
    }
    if (spec.column === undefined) {
      if (spec.fn !== 'count') throw new InvalidArgumentError(`${spec.fn}() needs a column`);
      return { function: AggregateFunction.COUNT_STAR, name: spec.as ?? 'count(*)', input: undefined };
    }
    const fn = FUNCTIONS[spec.fn];
    const input = fields[fieldIndex(fields, spec.column)]!;
    const name = spec.as ?? `${spec.fn}(${spec.column})`;
    if ((spec.fn === 'sum' || spec.fn === 'avg') && !isNumber(input.type)) {
      throw new UnsupportedTypeError(input.name, String(input.type), `${spec.fn} takes integer and floating-point columns`);
    }
    return { function: fn, name, input };
  });
}

/** The partial buffer columns of one aggregate (see the table above). */
export function bufferFields(aggregate: ResolvedAggregate): Field[] {
  const { name, input } = aggregate;
  switch (aggregate.function) {
    case AggregateFunction.COUNT_STAR:
    case AggregateFunction.COUNT:
      return [new Field(name, new Int64(), false)];
    case AggregateFunction.SUM:
      return [new Field(name, input!.type.typeId === Type.Float ? new Float64() : new Int64(), true)];
    case AggregateFunction.MIN:
    case AggregateFunction.MAX:
      return [new Field(name, input!.type, true)];
    default:
      return [new Field(`${name}.sum`, new Float64(), true), new Field(`${name}.count`, new Int64(), false)];
  }
}

/** The result column of one aggregate in the final and complete modes. */
export function resultField(aggregate: ResolvedAggregate): Field {
  if (aggregate.function === AggregateFunction.AVG) return new Field(aggregate.name, new Float64(), true);
  return bufferFields(aggregate)[0]!;
}

/** The native spec of an aggregate reading native input column `inputColumn`. */
export function nativeAggregate(aggregate: ResolvedAggregate, inputColumn: number): NativeAggregateSpec {
  return { function: aggregate.function, inputColumn, name: aggregate.name };
}
