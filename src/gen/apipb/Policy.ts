// Original file: proto/gobgp_api.proto

import type { Statement as _apipb_Statement, Statement__Output as _apipb_Statement__Output } from '../apipb/Statement.ts';

export interface Policy {
  'name'?: (string);
  'statements'?: (_apipb_Statement)[];
}

export interface Policy__Output {
  'name': (string);
  'statements': (_apipb_Statement__Output)[];
}
