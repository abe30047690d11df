// Original file: proto/gobgp_api.proto

import type { Long } from '@grpc/proto-loader';

export interface MessageCounters {
  'notification'?: (number | string | Long);
  'update'?: (number | string | Long);
  'open'?: (number | string | Long);
  'keepalive'?: (number | string | Long);
  'refresh'?: (number | string | Long);
  'discarded'?: (number | string | Long);
  'total'?: (number | string | Long);
}

export interface MessageCounters__Output {
  'notification': (number);
  'update': (number);
  'open': (number);
  'keepalive': (number);
  'refresh': (number);
  'discarded': (number);
  'total': (number);
}
