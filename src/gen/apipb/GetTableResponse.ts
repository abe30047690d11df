// Original file: proto/gobgp_api.proto

import type { Long } from '@grpc/proto-loader';

export interface GetTableResponse {
  'num_destination'?: (number | string | Long);
  'num_path'?: (number | string | Long);
  'num_accepted'?: (number | string | Long);
}

export interface GetTableResponse__Output {
  'num_destination': (number);
  'num_path': (number);
  'num_accepted': (number);
}
