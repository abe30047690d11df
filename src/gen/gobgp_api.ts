import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Actions as _apipb_Actions, Actions__Output as _apipb_Actions__Output } from './apipb/Actions.ts';
import type { AddDefinedSetRequest as _apipb_AddDefinedSetRequest, AddDefinedSetRequest__Output as _apipb_AddDefinedSetRequest__Output } from './apipb/AddDefinedSetRequest.ts';
import type { AddPathRequest as _apipb_AddPathRequest, AddPathRequest__Output as _apipb_AddPathRequest__Output } from './apipb/AddPathRequest.ts';
import type { AddPathResponse as _apipb_AddPathResponse, AddPathResponse__Output as _apipb_AddPathResponse__Output } from './apipb/AddPathResponse.ts';
import type { AddPathStreamRequest as _apipb_AddPathStreamRequest, AddPathStreamRequest__Output as _apipb_AddPathStreamRequest__Output } from './apipb/AddPathStreamRequest.ts';
import type { AddPeerRequest as _apipb_AddPeerRequest, AddPeerRequest__Output as _apipb_AddPeerRequest__Output } from './apipb/AddPeerRequest.ts';
import type { AddPolicyAssignmentRequest as _apipb_AddPolicyAssignmentRequest, AddPolicyAssignmentRequest__Output as _apipb_AddPolicyAssignmentRequest__Output } from './apipb/AddPolicyAssignmentRequest.ts';
import type { AddPolicyRequest as _apipb_AddPolicyRequest, AddPolicyRequest__Output as _apipb_AddPolicyRequest__Output } from './apipb/AddPolicyRequest.ts';
import type { AfiSafi as _apipb_AfiSafi, AfiSafi__Output as _apipb_AfiSafi__Output } from './apipb/AfiSafi.ts';
import type { AfiSafiConfig as _apipb_AfiSafiConfig, AfiSafiConfig__Output as _apipb_AfiSafiConfig__Output } from './apipb/AfiSafiConfig.ts';
import type { AfiSafiState as _apipb_AfiSafiState, AfiSafiState__Output as _apipb_AfiSafiState__Output } from './apipb/AfiSafiState.ts';
import type { AsPathAttribute as _apipb_AsPathAttribute, AsPathAttribute__Output as _apipb_AsPathAttribute__Output } from './apipb/AsPathAttribute.ts';
import type { AsSegment as _apipb_AsSegment, AsSegment__Output as _apipb_AsSegment__Output } from './apipb/AsSegment.ts';
import type { CommunitiesAttribute as _apipb_CommunitiesAttribute, CommunitiesAttribute__Output as _apipb_CommunitiesAttribute__Output } from './apipb/CommunitiesAttribute.ts';
import type { CommunityAction as _apipb_CommunityAction, CommunityAction__Output as _apipb_CommunityAction__Output } from './apipb/CommunityAction.ts';
import type { Conditions as _apipb_Conditions, Conditions__Output as _apipb_Conditions__Output } from './apipb/Conditions.ts';
import type { DefinedSet as _apipb_DefinedSet, DefinedSet__Output as _apipb_DefinedSet__Output } from './apipb/DefinedSet.ts';
import type { DeleteDefinedSetRequest as _apipb_DeleteDefinedSetRequest, DeleteDefinedSetRequest__Output as _apipb_DeleteDefinedSetRequest__Output } from './apipb/DeleteDefinedSetRequest.ts';
import type { DeletePathRequest as _apipb_DeletePathRequest, DeletePathRequest__Output as _apipb_DeletePathRequest__Output } from './apipb/DeletePathRequest.ts';
import type { DeletePeerRequest as _apipb_DeletePeerRequest, DeletePeerRequest__Output as _apipb_DeletePeerRequest__Output } from './apipb/DeletePeerRequest.ts';
import type { DeletePolicyAssignmentRequest as _apipb_DeletePolicyAssignmentRequest, DeletePolicyAssignmentRequest__Output as _apipb_DeletePolicyAssignmentRequest__Output } from './apipb/DeletePolicyAssignmentRequest.ts';
import type { DeletePolicyRequest as _apipb_DeletePolicyRequest, DeletePolicyRequest__Output as _apipb_DeletePolicyRequest__Output } from './apipb/DeletePolicyRequest.ts';
import type { Destination as _apipb_Destination, Destination__Output as _apipb_Destination__Output } from './apipb/Destination.ts';
import type { DisablePeerRequest as _apipb_DisablePeerRequest, DisablePeerRequest__Output as _apipb_DisablePeerRequest__Output } from './apipb/DisablePeerRequest.ts';
import type { EbgpMultihop as _apipb_EbgpMultihop, EbgpMultihop__Output as _apipb_EbgpMultihop__Output } from './apipb/EbgpMultihop.ts';
import type { EnablePeerRequest as _apipb_EnablePeerRequest, EnablePeerRequest__Output as _apipb_EnablePeerRequest__Output } from './apipb/EnablePeerRequest.ts';
import type { Family as _apipb_Family, Family__Output as _apipb_Family__Output } from './apipb/Family.ts';
import type { GetBgpRequest as _apipb_GetBgpRequest, GetBgpRequest__Output as _apipb_GetBgpRequest__Output } from './apipb/GetBgpRequest.ts';
import type { GetBgpResponse as _apipb_GetBgpResponse, GetBgpResponse__Output as _apipb_GetBgpResponse__Output } from './apipb/GetBgpResponse.ts';
import type { GetTableRequest as _apipb_GetTableRequest, GetTableRequest__Output as _apipb_GetTableRequest__Output } from './apipb/GetTableRequest.ts';
import type { GetTableResponse as _apipb_GetTableResponse, GetTableResponse__Output as _apipb_GetTableResponse__Output } from './apipb/GetTableResponse.ts';
import type { Global as _apipb_Global, Global__Output as _apipb_Global__Output } from './apipb/Global.ts';
import type { GobgpApiClient as _apipb_GobgpApiClient, GobgpApiDefinition as _apipb_GobgpApiDefinition } from './apipb/GobgpApi.ts';
import type { IPAddressPrefix as _apipb_IPAddressPrefix, IPAddressPrefix__Output as _apipb_IPAddressPrefix__Output } from './apipb/IPAddressPrefix.ts';
import type { ListDefinedSetRequest as _apipb_ListDefinedSetRequest, ListDefinedSetRequest__Output as _apipb_ListDefinedSetRequest__Output } from './apipb/ListDefinedSetRequest.ts';
import type { ListDefinedSetResponse as _apipb_ListDefinedSetResponse, ListDefinedSetResponse__Output as _apipb_ListDefinedSetResponse__Output } from './apipb/ListDefinedSetResponse.ts';
import type { ListPathRequest as _apipb_ListPathRequest, ListPathRequest__Output as _apipb_ListPathRequest__Output } from './apipb/ListPathRequest.ts';
import type { ListPathResponse as _apipb_ListPathResponse, ListPathResponse__Output as _apipb_ListPathResponse__Output } from './apipb/ListPathResponse.ts';
import type { ListPeerRequest as _apipb_ListPeerRequest, ListPeerRequest__Output as _apipb_ListPeerRequest__Output } from './apipb/ListPeerRequest.ts';
import type { ListPeerResponse as _apipb_ListPeerResponse, ListPeerResponse__Output as _apipb_ListPeerResponse__Output } from './apipb/ListPeerResponse.ts';
import type { ListPolicyAssignmentRequest as _apipb_ListPolicyAssignmentRequest, ListPolicyAssignmentRequest__Output as _apipb_ListPolicyAssignmentRequest__Output } from './apipb/ListPolicyAssignmentRequest.ts';
import type { ListPolicyAssignmentResponse as _apipb_ListPolicyAssignmentResponse, ListPolicyAssignmentResponse__Output as _apipb_ListPolicyAssignmentResponse__Output } from './apipb/ListPolicyAssignmentResponse.ts';
import type { ListPolicyRequest as _apipb_ListPolicyRequest, ListPolicyRequest__Output as _apipb_ListPolicyRequest__Output } from './apipb/ListPolicyRequest.ts';
import type { ListPolicyResponse as _apipb_ListPolicyResponse, ListPolicyResponse__Output as _apipb_ListPolicyResponse__Output } from './apipb/ListPolicyResponse.ts';
import type { LocalPrefAction as _apipb_LocalPrefAction, LocalPrefAction__Output as _apipb_LocalPrefAction__Output } from './apipb/LocalPrefAction.ts';
import type { LocalPrefAttribute as _apipb_LocalPrefAttribute, LocalPrefAttribute__Output as _apipb_LocalPrefAttribute__Output } from './apipb/LocalPrefAttribute.ts';
import type { MatchSet as _apipb_MatchSet, MatchSet__Output as _apipb_MatchSet__Output } from './apipb/MatchSet.ts';
import type { MedAction as _apipb_MedAction, MedAction__Output as _apipb_MedAction__Output } from './apipb/MedAction.ts';
import type { MessageCounters as _apipb_MessageCounters, MessageCounters__Output as _apipb_MessageCounters__Output } from './apipb/MessageCounters.ts';
import type { Messages as _apipb_Messages, Messages__Output as _apipb_Messages__Output } from './apipb/Messages.ts';
import type { MpReachNLRIAttribute as _apipb_MpReachNLRIAttribute, MpReachNLRIAttribute__Output as _apipb_MpReachNLRIAttribute__Output } from './apipb/MpReachNLRIAttribute.ts';
import type { MpUnreachNLRIAttribute as _apipb_MpUnreachNLRIAttribute, MpUnreachNLRIAttribute__Output as _apipb_MpUnreachNLRIAttribute__Output } from './apipb/MpUnreachNLRIAttribute.ts';
import type { MultiExitDiscAttribute as _apipb_MultiExitDiscAttribute, MultiExitDiscAttribute__Output as _apipb_MultiExitDiscAttribute__Output } from './apipb/MultiExitDiscAttribute.ts';
import type { NextHopAttribute as _apipb_NextHopAttribute, NextHopAttribute__Output as _apipb_NextHopAttribute__Output } from './apipb/NextHopAttribute.ts';
import type { NexthopAction as _apipb_NexthopAction, NexthopAction__Output as _apipb_NexthopAction__Output } from './apipb/NexthopAction.ts';
import type { OriginAttribute as _apipb_OriginAttribute, OriginAttribute__Output as _apipb_OriginAttribute__Output } from './apipb/OriginAttribute.ts';
import type { Path as _apipb_Path, Path__Output as _apipb_Path__Output } from './apipb/Path.ts';
import type { Peer as _apipb_Peer, Peer__Output as _apipb_Peer__Output } from './apipb/Peer.ts';
import type { PeerConf as _apipb_PeerConf, PeerConf__Output as _apipb_PeerConf__Output } from './apipb/PeerConf.ts';
import type { PeerState as _apipb_PeerState, PeerState__Output as _apipb_PeerState__Output } from './apipb/PeerState.ts';
import type { Policy as _apipb_Policy, Policy__Output as _apipb_Policy__Output } from './apipb/Policy.ts';
import type { PolicyAssignment as _apipb_PolicyAssignment, PolicyAssignment__Output as _apipb_PolicyAssignment__Output } from './apipb/PolicyAssignment.ts';
import type { Prefix as _apipb_Prefix, Prefix__Output as _apipb_Prefix__Output } from './apipb/Prefix.ts';
import type { ResetPeerRequest as _apipb_ResetPeerRequest, ResetPeerRequest__Output as _apipb_ResetPeerRequest__Output } from './apipb/ResetPeerRequest.ts';
import type { SetPolicyAssignmentRequest as _apipb_SetPolicyAssignmentRequest, SetPolicyAssignmentRequest__Output as _apipb_SetPolicyAssignmentRequest__Output } from './apipb/SetPolicyAssignmentRequest.ts';
import type { StartBgpRequest as _apipb_StartBgpRequest, StartBgpRequest__Output as _apipb_StartBgpRequest__Output } from './apipb/StartBgpRequest.ts';
import type { Statement as _apipb_Statement, Statement__Output as _apipb_Statement__Output } from './apipb/Statement.ts';
import type { StopBgpRequest as _apipb_StopBgpRequest, StopBgpRequest__Output as _apipb_StopBgpRequest__Output } from './apipb/StopBgpRequest.ts';
import type { TableLookupPrefix as _apipb_TableLookupPrefix, TableLookupPrefix__Output as _apipb_TableLookupPrefix__Output } from './apipb/TableLookupPrefix.ts';
import type { Timers as _apipb_Timers, Timers__Output as _apipb_Timers__Output } from './apipb/Timers.ts';
import type { TimersConfig as _apipb_TimersConfig, TimersConfig__Output as _apipb_TimersConfig__Output } from './apipb/TimersConfig.ts';
import type { TimersState as _apipb_TimersState, TimersState__Output as _apipb_TimersState__Output } from './apipb/TimersState.ts';
import type { Transport as _apipb_Transport, Transport__Output as _apipb_Transport__Output } from './apipb/Transport.ts';
import type { WatchEventRequest as _apipb_WatchEventRequest, WatchEventRequest__Output as _apipb_WatchEventRequest__Output } from './apipb/WatchEventRequest.ts';
import type { WatchEventResponse as _apipb_WatchEventResponse, WatchEventResponse__Output as _apipb_WatchEventResponse__Output } from './apipb/WatchEventResponse.ts';
import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from './google/protobuf/Any.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from './google/protobuf/Empty.ts';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  apipb: {
    Actions: MessageTypeDefinition<_apipb_Actions, _apipb_Actions__Output>
    AddDefinedSetRequest: MessageTypeDefinition<_apipb_AddDefinedSetRequest, _apipb_AddDefinedSetRequest__Output>
    AddPathRequest: MessageTypeDefinition<_apipb_AddPathRequest, _apipb_AddPathRequest__Output>
    AddPathResponse: MessageTypeDefinition<_apipb_AddPathResponse, _apipb_AddPathResponse__Output>
    AddPathStreamRequest: MessageTypeDefinition<_apipb_AddPathStreamRequest, _apipb_AddPathStreamRequest__Output>
    AddPeerRequest: MessageTypeDefinition<_apipb_AddPeerRequest, _apipb_AddPeerRequest__Output>
    AddPolicyAssignmentRequest: MessageTypeDefinition<_apipb_AddPolicyAssignmentRequest, _apipb_AddPolicyAssignmentRequest__Output>
    AddPolicyRequest: MessageTypeDefinition<_apipb_AddPolicyRequest, _apipb_AddPolicyRequest__Output>
    AfiSafi: MessageTypeDefinition<_apipb_AfiSafi, _apipb_AfiSafi__Output>
    AfiSafiConfig: MessageTypeDefinition<_apipb_AfiSafiConfig, _apipb_AfiSafiConfig__Output>
    AfiSafiState: MessageTypeDefinition<_apipb_AfiSafiState, _apipb_AfiSafiState__Output>
    AsPathAttribute: MessageTypeDefinition<_apipb_AsPathAttribute, _apipb_AsPathAttribute__Output>
    AsSegment: MessageTypeDefinition<_apipb_AsSegment, _apipb_AsSegment__Output>
    CommunitiesAttribute: MessageTypeDefinition<_apipb_CommunitiesAttribute, _apipb_CommunitiesAttribute__Output>
    CommunityAction: MessageTypeDefinition<_apipb_CommunityAction, _apipb_CommunityAction__Output>
    Conditions: MessageTypeDefinition<_apipb_Conditions, _apipb_Conditions__Output>
    DefinedSet: MessageTypeDefinition<_apipb_DefinedSet, _apipb_DefinedSet__Output>
    DefinedType: EnumTypeDefinition
    DeleteDefinedSetRequest: MessageTypeDefinition<_apipb_DeleteDefinedSetRequest, _apipb_DeleteDefinedSetRequest__Output>
    DeletePathRequest: MessageTypeDefinition<_apipb_DeletePathRequest, _apipb_DeletePathRequest__Output>
    DeletePeerRequest: MessageTypeDefinition<_apipb_DeletePeerRequest, _apipb_DeletePeerRequest__Output>
    DeletePolicyAssignmentRequest: MessageTypeDefinition<_apipb_DeletePolicyAssignmentRequest, _apipb_DeletePolicyAssignmentRequest__Output>
    DeletePolicyRequest: MessageTypeDefinition<_apipb_DeletePolicyRequest, _apipb_DeletePolicyRequest__Output>
    Destination: MessageTypeDefinition<_apipb_Destination, _apipb_Destination__Output>
    DisablePeerRequest: MessageTypeDefinition<_apipb_DisablePeerRequest, _apipb_DisablePeerRequest__Output>
    EbgpMultihop: MessageTypeDefinition<_apipb_EbgpMultihop, _apipb_EbgpMultihop__Output>
    EnablePeerRequest: MessageTypeDefinition<_apipb_EnablePeerRequest, _apipb_EnablePeerRequest__Output>
    Family: MessageTypeDefinition<_apipb_Family, _apipb_Family__Output>
    GetBgpRequest: MessageTypeDefinition<_apipb_GetBgpRequest, _apipb_GetBgpRequest__Output>
    GetBgpResponse: MessageTypeDefinition<_apipb_GetBgpResponse, _apipb_GetBgpResponse__Output>
    GetTableRequest: MessageTypeDefinition<_apipb_GetTableRequest, _apipb_GetTableRequest__Output>
    GetTableResponse: MessageTypeDefinition<_apipb_GetTableResponse, _apipb_GetTableResponse__Output>
    Global: MessageTypeDefinition<_apipb_Global, _apipb_Global__Output>
    GobgpApi: SubtypeConstructor<typeof grpc.Client, _apipb_GobgpApiClient> & { service: _apipb_GobgpApiDefinition }
    IPAddressPrefix: MessageTypeDefinition<_apipb_IPAddressPrefix, _apipb_IPAddressPrefix__Output>
    ListDefinedSetRequest: MessageTypeDefinition<_apipb_ListDefinedSetRequest, _apipb_ListDefinedSetRequest__Output>
    ListDefinedSetResponse: MessageTypeDefinition<_apipb_ListDefinedSetResponse, _apipb_ListDefinedSetResponse__Output>
    ListPathRequest: MessageTypeDefinition<_apipb_ListPathRequest, _apipb_ListPathRequest__Output>
    ListPathResponse: MessageTypeDefinition<_apipb_ListPathResponse, _apipb_ListPathResponse__Output>
    ListPeerRequest: MessageTypeDefinition<_apipb_ListPeerRequest, _apipb_ListPeerRequest__Output>
    ListPeerResponse: MessageTypeDefinition<_apipb_ListPeerResponse, _apipb_ListPeerResponse__Output>
    ListPolicyAssignmentRequest: MessageTypeDefinition<_apipb_ListPolicyAssignmentRequest, _apipb_ListPolicyAssignmentRequest__Output>
    ListPolicyAssignmentResponse: MessageTypeDefinition<_apipb_ListPolicyAssignmentResponse, _apipb_ListPolicyAssignmentResponse__Output>
    ListPolicyRequest: MessageTypeDefinition<_apipb_ListPolicyRequest, _apipb_ListPolicyRequest__Output>
    ListPolicyResponse: MessageTypeDefinition<_apipb_ListPolicyResponse, _apipb_ListPolicyResponse__Output>
    LocalPrefAction: MessageTypeDefinition<_apipb_LocalPrefAction, _apipb_LocalPrefAction__Output>
    LocalPrefAttribute: MessageTypeDefinition<_apipb_LocalPrefAttribute, _apipb_LocalPrefAttribute__Output>
    MatchSet: MessageTypeDefinition<_apipb_MatchSet, _apipb_MatchSet__Output>
    MedAction: MessageTypeDefinition<_apipb_MedAction, _apipb_MedAction__Output>
    MessageCounters: MessageTypeDefinition<_apipb_MessageCounters, _apipb_MessageCounters__Output>
    Messages: MessageTypeDefinition<_apipb_Messages, _apipb_Messages__Output>
    MpReachNLRIAttribute: MessageTypeDefinition<_apipb_MpReachNLRIAttribute, _apipb_MpReachNLRIAttribute__Output>
    MpUnreachNLRIAttribute: MessageTypeDefinition<_apipb_MpUnreachNLRIAttribute, _apipb_MpUnreachNLRIAttribute__Output>
    MultiExitDiscAttribute: MessageTypeDefinition<_apipb_MultiExitDiscAttribute, _apipb_MultiExitDiscAttribute__Output>
    NextHopAttribute: MessageTypeDefinition<_apipb_NextHopAttribute, _apipb_NextHopAttribute__Output>
    NexthopAction: MessageTypeDefinition<_apipb_NexthopAction, _apipb_NexthopAction__Output>
    OriginAttribute: MessageTypeDefinition<_apipb_OriginAttribute, _apipb_OriginAttribute__Output>
    Path: MessageTypeDefinition<_apipb_Path, _apipb_Path__Output>
    Peer: MessageTypeDefinition<_apipb_Peer, _apipb_Peer__Output>
    PeerConf: MessageTypeDefinition<_apipb_PeerConf, _apipb_PeerConf__Output>
    PeerState: MessageTypeDefinition<_apipb_PeerState, _apipb_PeerState__Output>
    PeerType: EnumTypeDefinition
    Policy: MessageTypeDefinition<_apipb_Policy, _apipb_Policy__Output>
    PolicyAssignment: MessageTypeDefinition<_apipb_PolicyAssignment, _apipb_PolicyAssignment__Output>
    PolicyDirection: EnumTypeDefinition
    Prefix: MessageTypeDefinition<_apipb_Prefix, _apipb_Prefix__Output>
    ResetPeerRequest: MessageTypeDefinition<_apipb_ResetPeerRequest, _apipb_ResetPeerRequest__Output>
    RouteAction: EnumTypeDefinition
    SetPolicyAssignmentRequest: MessageTypeDefinition<_apipb_SetPolicyAssignmentRequest, _apipb_SetPolicyAssignmentRequest__Output>
    StartBgpRequest: MessageTypeDefinition<_apipb_StartBgpRequest, _apipb_StartBgpRequest__Output>
    Statement: MessageTypeDefinition<_apipb_Statement, _apipb_Statement__Output>
    StopBgpRequest: MessageTypeDefinition<_apipb_StopBgpRequest, _apipb_StopBgpRequest__Output>
    TableLookupPrefix: MessageTypeDefinition<_apipb_TableLookupPrefix, _apipb_TableLookupPrefix__Output>
    TableType: EnumTypeDefinition
    Timers: MessageTypeDefinition<_apipb_Timers, _apipb_Timers__Output>
    TimersConfig: MessageTypeDefinition<_apipb_TimersConfig, _apipb_TimersConfig__Output>
    TimersState: MessageTypeDefinition<_apipb_TimersState, _apipb_TimersState__Output>
    Transport: MessageTypeDefinition<_apipb_Transport, _apipb_Transport__Output>
    WatchEventRequest: MessageTypeDefinition<_apipb_WatchEventRequest, _apipb_WatchEventRequest__Output>
    WatchEventResponse: MessageTypeDefinition<_apipb_WatchEventResponse, _apipb_WatchEventResponse__Output>
  }
  google: {
    protobuf: {
      Any: MessageTypeDefinition<_google_protobuf_Any, _google_protobuf_Any__Output>
      Empty: MessageTypeDefinition<_google_protobuf_Empty, _google_protobuf_Empty__Output>
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
}

