// What kube-loxilb runs with: the controller's configuration, owned here by
// the controller; the flag parser (cli/kubeLoxilbFlags.ts) only fills it in
// from flags and the --config file.
import type { IpamMode } from '../ipam/IpAllocator.ts';
import type { PoolDef } from '../ipam/poolSpec.ts';

export interface ExtBgpPeer {
  ip: string;
  asn: number;
}

export interface KubeLoxilbConfig {
  /** loxilb API URLs; empty means in-cluster discovery. */
  loxiURLs: string[];
  /** --loxiCACert: the CA bundle the agents' HTTPS certificates are checked against (path, and where it was set). */
  loxiCACert?: { path: string; where: string };
  /** --loxiTokenFile: the file holding the agents' API token. */
  loxiTokenFile?: { path: string; where: string };
  /** --loxiDiscoverHTTPS: discovered agents are reached at https://<address>:8091 instead of http://<address>:11111. */
  loxiDiscoverHTTPS?: boolean;
  v4Pools: PoolDef[];
  v6Pools: PoolDef[];
  secondaryPools: PoolDef[];
  setUniqueIP: boolean;
  ipamMode: IpamMode;
  /** Local AS number; 0 means BGP off. 4-byte ASNs are allowed. */
  setBGP: number;
  listenBGPPort: number;
  eBGPMultiHop: boolean;
  extBGPPeers: ExtBgpPeer[];
  /** Role arbitration on, with this address sent as the CI vip; undefined means off. */
  setRoles?: string;
  setLBMode: number;
  monitor: boolean;
  zone: string;
  numZoneInstances: number;
  noZoneName: boolean;
  excludeRoleList: string[];
  /** From --privateCIDR: sent as privateIP on IPv4 rules. */
  privateIP?: string;
  usePodNetwork: boolean;
  useExternalEndpoint: boolean;
  configFile?: string;
  kubeconfig?: string;
  loadBalancerClass: string;
  /** How often each agent is health-checked for role arbitration. */
  roleHealthPeriodMs: number;
  loglevel: string;
  /** --metricsAddr: where GET /metrics is served; undefined: no metrics listener. */
  metricsAddr?: { host: string; port: number };
  help: boolean;
}
