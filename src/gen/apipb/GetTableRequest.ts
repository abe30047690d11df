// Original file: proto/gobgp_api.proto

import type { TableType as _apipb_TableType, TableType__Output as _apipb_TableType__Output } from '../apipb/TableType.ts';
import type { Family as _apipb_Family, Family__Output as _apipb_Family__Output } from '../apipb/Family.ts';

export interface GetTableRequest {
  'table_type'?: (_apipb_TableType);
  'family'?: (_apipb_Family | null);
  'name'?: (string);
}

export interface GetTableRequest__Output {
  'table_type': (_apipb_TableType__Output);
  'family': (_apipb_Family__Output | null);
  'name': (string);
}
