import { isDateSpec, type FieldSpec } from '../../params/spec';
import { listLimits } from './inputs';

/** A field's limits in words, shown under it so nobody has to guess them. */
export function describeLimits(spec: FieldSpec): string {
  switch (spec.type) {
    case 'integer':
    case 'number':
      if (spec.minimum !== undefined && spec.maximum !== undefined) return `${spec.minimum} to ${spec.maximum}`;
      if (spec.minimum !== undefined) return `at least ${spec.minimum}`;
      if (spec.maximum !== undefined) return `at most ${spec.maximum}`;
      return '';
    case 'string':
      if (isDateSpec(spec)) {
        const from = spec.minimum ? `from ${spec.minimum}` : '';
        const to = spec.maximum ? `to ${spec.maximum}` : '';
        return ['YYYY-MM-DD', from, to].filter(Boolean).join(' ');
      }
      if (spec.enum) return '';
      if (spec.minLength !== undefined && spec.minLength === spec.maxLength) return `${spec.minLength} characters`;
      return spec.maxLength !== undefined ? `up to ${spec.maxLength} characters` : '';
    case 'array':
      return listLimits(spec);
    default:
      return '';
  }
}

export function helpText(spec: FieldSpec): string | undefined {
  const limits = describeLimits(spec);
  const parts = [spec.help, limits && `(${limits})`].filter(Boolean);
  return parts.length ? parts.join(' ') : undefined;
}
