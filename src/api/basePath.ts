// Where loxilb's REST API lives on every agent: the server, our clients
// (kube-loxilb, loxicmd, the HA peer view) and the planners that name its
// paths take it from here.
export const API_BASE_PATH = '/netlox/v1';
