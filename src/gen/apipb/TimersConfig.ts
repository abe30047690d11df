// Original file: proto/gobgp_api.proto

import type { Long } from '@grpc/proto-loader';

export interface TimersConfig {
  'connect_retry'?: (number | string | Long);
  'hold_time'?: (number | string | Long);
  'keepalive_interval'?: (number | string | Long);
  'minimum_advertisement_interval'?: (number | string | Long);
  'idle_hold_time_after_reset'?: (number | string | Long);
}

export interface TimersConfig__Output {
  'connect_retry': (number);
  'hold_time': (number);
  'keepalive_interval': (number);
  'minimum_advertisement_interval': (number);
  'idle_hold_time_after_reset': (number);
}
