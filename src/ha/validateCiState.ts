// The REST edge of POST /config/cistate (reference §2.3).
import { FieldReader, invalid } from '../util/FieldReader.ts';
import { CI_STATES, type CiState, type CiStateName } from './ClusterState.ts';

const CI_FIELDS = ['instance', 'state', 'vip'] as const;

/** Validates a cluster-instance state body; throws ValidationError. */
export function parseCiState(body: unknown): CiState {
  const r = new FieldReader('', body, CI_FIELDS);
  const instance = r.string('instance', { required: true })!;
  const state = r.raw('state');
  if (typeof state !== 'string' || !(CI_STATES as readonly string[]).includes(state)) {
    // loxilb's own error text is kept in the message so scripts matching it still work.
    const allowed = `invalid cluster-state, must be one of ${CI_STATES.join(', ')}`;
    throw invalid(r.field('state'), state === undefined ? `required: ${allowed}` : allowed, state);
  }
  const vip = r.ip('vip') ?? '0.0.0.0';
  return { instance, state: state as CiStateName, vip };
}
