// Original file: proto/gobgp_api.proto

import type { PolicyDirection as _apipb_PolicyDirection, PolicyDirection__Output as _apipb_PolicyDirection__Output } from '../apipb/PolicyDirection.ts';
import type { Policy as _apipb_Policy, Policy__Output as _apipb_Policy__Output } from '../apipb/Policy.ts';
import type { RouteAction as _apipb_RouteAction, RouteAction__Output as _apipb_RouteAction__Output } from '../apipb/RouteAction.ts';

export interface PolicyAssignment {
  'name'?: (string);
  'direction'?: (_apipb_PolicyDirection);
  'policies'?: (_apipb_Policy)[];
  'default_action'?: (_apipb_RouteAction);
}

export interface PolicyAssignment__Output {
  'name': (string);
  'direction': (_apipb_PolicyDirection__Output);
  'policies': (_apipb_Policy__Output)[];
  'default_action': (_apipb_RouteAction__Output);
}
