// BFD's clock is the agent's one (src/util/clock.ts); kept here so BFD code
// and its tests import it from next door.
export * from '../util/clock.ts';
