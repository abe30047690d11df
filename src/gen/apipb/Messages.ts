// Original file: proto/gobgp_api.proto

import type { MessageCounters as _apipb_MessageCounters, MessageCounters__Output as _apipb_MessageCounters__Output } from '../apipb/MessageCounters.ts';

export interface Messages {
  'received'?: (_apipb_MessageCounters | null);
  'sent'?: (_apipb_MessageCounters | null);
}

export interface Messages__Output {
  'received': (_apipb_MessageCounters__Output | null);
  'sent': (_apipb_MessageCounters__Output | null);
}
