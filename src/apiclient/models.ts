// The JSON bodies of loxilb's REST API as its clients send them (reference
// §2), with loxilb's own key spelling. Replies are typed loosely because a
// real loxilb and ours fill different optional fields.

export interface ResultReply {
  result?: string;
}

export interface ParamsModel {
  logLevel: string;
}

export interface LbServiceModel {
  externalIP: string;
  port: number;
  portMax?: number;
  protocol: string;
  sel?: number;
  mode?: number;
  bgp?: boolean;
  monitor?: boolean;
  inactiveTimeOut?: number;
  block?: number;
  managed?: boolean;
  name?: string;
  oper?: number;
  security?: number;
  host?: string;
  proxyprotocolv2?: boolean;
  egress?: boolean;
  probetype?: string;
  probeport?: number;
  probereq?: string;
  proberesp?: string;
  probeTimeout?: number;
  probeRetries?: number;
}

export interface LbEndpointModel {
  endpointIP: string;
  targetPort: number;
  weight: number;
}

export interface LbRuleModel {
  serviceArguments: LbServiceModel;
  endpoints: LbEndpointModel[];
  secondaryIPs?: { secondaryIP: string }[];
  allowedSources?: { prefix: string }[];
}

/** What identifies a rule for DELETE (the path and its ?bgp=&block= query). */
export interface LbDeleteKey {
  externalIP: string;
  port: number;
  portMax?: number;
  protocol: string;
  host?: string;
  bgp?: boolean;
  block?: number;
}

export interface CiStateModel {
  instance: string;
  state: string;
  vip?: string;
}

export interface BfdSessionModel {
  instance?: string;
  remoteIp: string;
  sourceIp?: string;
  /** µs; 0 keeps an existing session's value. */
  interval?: number;
  retryCount?: number;
}

export interface BgpGlobalModel {
  routerId: string;
  localAs: number;
  SetNextHopSelf?: boolean;
  listenPort?: number;
}

export interface BgpNeighborModel {
  ipAddress: string;
  remoteAs: number;
  remotePort?: number;
  setMultiHop?: boolean;
}

/** POST /config/endpoint (reference §2.6). */
export interface EndpointModel {
  hostName: string;
  name?: string;
  inactiveReTries?: number;
  probeType?: string;
  probeReq?: string;
  probeResp?: string;
  probeDuration?: number;
  probePort?: number;
}
