// Original file: proto/gobgp_api.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AddDefinedSetRequest as _apipb_AddDefinedSetRequest, AddDefinedSetRequest__Output as _apipb_AddDefinedSetRequest__Output } from '../apipb/AddDefinedSetRequest.ts';
import type { AddPathRequest as _apipb_AddPathRequest, AddPathRequest__Output as _apipb_AddPathRequest__Output } from '../apipb/AddPathRequest.ts';
import type { AddPathResponse as _apipb_AddPathResponse, AddPathResponse__Output as _apipb_AddPathResponse__Output } from '../apipb/AddPathResponse.ts';
import type { AddPathStreamRequest as _apipb_AddPathStreamRequest, AddPathStreamRequest__Output as _apipb_AddPathStreamRequest__Output } from '../apipb/AddPathStreamRequest.ts';
import type { AddPeerRequest as _apipb_AddPeerRequest, AddPeerRequest__Output as _apipb_AddPeerRequest__Output } from '../apipb/AddPeerRequest.ts';
import type { AddPolicyAssignmentRequest as _apipb_AddPolicyAssignmentRequest, AddPolicyAssignmentRequest__Output as _apipb_AddPolicyAssignmentRequest__Output } from '../apipb/AddPolicyAssignmentRequest.ts';
import type { AddPolicyRequest as _apipb_AddPolicyRequest, AddPolicyRequest__Output as _apipb_AddPolicyRequest__Output } from '../apipb/AddPolicyRequest.ts';
import type { DeleteDefinedSetRequest as _apipb_DeleteDefinedSetRequest, DeleteDefinedSetRequest__Output as _apipb_DeleteDefinedSetRequest__Output } from '../apipb/DeleteDefinedSetRequest.ts';
import type { DeletePathRequest as _apipb_DeletePathRequest, DeletePathRequest__Output as _apipb_DeletePathRequest__Output } from '../apipb/DeletePathRequest.ts';
import type { DeletePeerRequest as _apipb_DeletePeerRequest, DeletePeerRequest__Output as _apipb_DeletePeerRequest__Output } from '../apipb/DeletePeerRequest.ts';
import type { DeletePolicyAssignmentRequest as _apipb_DeletePolicyAssignmentRequest, DeletePolicyAssignmentRequest__Output as _apipb_DeletePolicyAssignmentRequest__Output } from '../apipb/DeletePolicyAssignmentRequest.ts';
import type { DeletePolicyRequest as _apipb_DeletePolicyRequest, DeletePolicyRequest__Output as _apipb_DeletePolicyRequest__Output } from '../apipb/DeletePolicyRequest.ts';
import type { DisablePeerRequest as _apipb_DisablePeerRequest, DisablePeerRequest__Output as _apipb_DisablePeerRequest__Output } from '../apipb/DisablePeerRequest.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from '../google/protobuf/Empty.ts';
import type { EnablePeerRequest as _apipb_EnablePeerRequest, EnablePeerRequest__Output as _apipb_EnablePeerRequest__Output } from '../apipb/EnablePeerRequest.ts';
import type { GetBgpRequest as _apipb_GetBgpRequest, GetBgpRequest__Output as _apipb_GetBgpRequest__Output } from '../apipb/GetBgpRequest.ts';
import type { GetBgpResponse as _apipb_GetBgpResponse, GetBgpResponse__Output as _apipb_GetBgpResponse__Output } from '../apipb/GetBgpResponse.ts';
import type { GetTableRequest as _apipb_GetTableRequest, GetTableRequest__Output as _apipb_GetTableRequest__Output } from '../apipb/GetTableRequest.ts';
import type { GetTableResponse as _apipb_GetTableResponse, GetTableResponse__Output as _apipb_GetTableResponse__Output } from '../apipb/GetTableResponse.ts';
import type { ListDefinedSetRequest as _apipb_ListDefinedSetRequest, ListDefinedSetRequest__Output as _apipb_ListDefinedSetRequest__Output } from '../apipb/ListDefinedSetRequest.ts';
import type { ListDefinedSetResponse as _apipb_ListDefinedSetResponse, ListDefinedSetResponse__Output as _apipb_ListDefinedSetResponse__Output } from '../apipb/ListDefinedSetResponse.ts';
import type { ListPathRequest as _apipb_ListPathRequest, ListPathRequest__Output as _apipb_ListPathRequest__Output } from '../apipb/ListPathRequest.ts';
import type { ListPathResponse as _apipb_ListPathResponse, ListPathResponse__Output as _apipb_ListPathResponse__Output } from '../apipb/ListPathResponse.ts';
import type { ListPeerRequest as _apipb_ListPeerRequest, ListPeerRequest__Output as _apipb_ListPeerRequest__Output } from '../apipb/ListPeerRequest.ts';
import type { ListPeerResponse as _apipb_ListPeerResponse, ListPeerResponse__Output as _apipb_ListPeerResponse__Output } from '../apipb/ListPeerResponse.ts';
import type { ListPolicyAssignmentRequest as _apipb_ListPolicyAssignmentRequest, ListPolicyAssignmentRequest__Output as _apipb_ListPolicyAssignmentRequest__Output } from '../apipb/ListPolicyAssignmentRequest.ts';
import type { ListPolicyAssignmentResponse as _apipb_ListPolicyAssignmentResponse, ListPolicyAssignmentResponse__Output as _apipb_ListPolicyAssignmentResponse__Output } from '../apipb/ListPolicyAssignmentResponse.ts';
import type { ListPolicyRequest as _apipb_ListPolicyRequest, ListPolicyRequest__Output as _apipb_ListPolicyRequest__Output } from '../apipb/ListPolicyRequest.ts';
import type { ListPolicyResponse as _apipb_ListPolicyResponse, ListPolicyResponse__Output as _apipb_ListPolicyResponse__Output } from '../apipb/ListPolicyResponse.ts';
import type { ResetPeerRequest as _apipb_ResetPeerRequest, ResetPeerRequest__Output as _apipb_ResetPeerRequest__Output } from '../apipb/ResetPeerRequest.ts';
import type { SetPolicyAssignmentRequest as _apipb_SetPolicyAssignmentRequest, SetPolicyAssignmentRequest__Output as _apipb_SetPolicyAssignmentRequest__Output } from '../apipb/SetPolicyAssignmentRequest.ts';
import type { StartBgpRequest as _apipb_StartBgpRequest, StartBgpRequest__Output as _apipb_StartBgpRequest__Output } from '../apipb/StartBgpRequest.ts';
import type { StopBgpRequest as _apipb_StopBgpRequest, StopBgpRequest__Output as _apipb_StopBgpRequest__Output } from '../apipb/StopBgpRequest.ts';
import type { WatchEventRequest as _apipb_WatchEventRequest, WatchEventRequest__Output as _apipb_WatchEventRequest__Output } from '../apipb/WatchEventRequest.ts';
import type { WatchEventResponse as _apipb_WatchEventResponse, WatchEventResponse__Output as _apipb_WatchEventResponse__Output } from '../apipb/WatchEventResponse.ts';

export interface GobgpApiClient extends grpc.Client {
  AddDefinedSet(argument: _apipb_AddDefinedSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddDefinedSet(argument: _apipb_AddDefinedSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddDefinedSet(argument: _apipb_AddDefinedSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddDefinedSet(argument: _apipb_AddDefinedSetRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addDefinedSet(argument: _apipb_AddDefinedSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addDefinedSet(argument: _apipb_AddDefinedSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addDefinedSet(argument: _apipb_AddDefinedSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addDefinedSet(argument: _apipb_AddDefinedSetRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  AddPath(argument: _apipb_AddPathRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_AddPathResponse__Output>): grpc.ClientUnaryCall;
  AddPath(argument: _apipb_AddPathRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_apipb_AddPathResponse__Output>): grpc.ClientUnaryCall;
  AddPath(argument: _apipb_AddPathRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_AddPathResponse__Output>): grpc.ClientUnaryCall;
  AddPath(argument: _apipb_AddPathRequest, callback: grpc.requestCallback<_apipb_AddPathResponse__Output>): grpc.ClientUnaryCall;
  addPath(argument: _apipb_AddPathRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_AddPathResponse__Output>): grpc.ClientUnaryCall;
  addPath(argument: _apipb_AddPathRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_apipb_AddPathResponse__Output>): grpc.ClientUnaryCall;
  addPath(argument: _apipb_AddPathRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_AddPathResponse__Output>): grpc.ClientUnaryCall;
  addPath(argument: _apipb_AddPathRequest, callback: grpc.requestCallback<_apipb_AddPathResponse__Output>): grpc.ClientUnaryCall;
  
  AddPathStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientWritableStream<_apipb_AddPathStreamRequest>;
  AddPathStream(metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientWritableStream<_apipb_AddPathStreamRequest>;
  AddPathStream(options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientWritableStream<_apipb_AddPathStreamRequest>;
  AddPathStream(callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientWritableStream<_apipb_AddPathStreamRequest>;
  addPathStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientWritableStream<_apipb_AddPathStreamRequest>;
  addPathStream(metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientWritableStream<_apipb_AddPathStreamRequest>;
  addPathStream(options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientWritableStream<_apipb_AddPathStreamRequest>;
  addPathStream(callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientWritableStream<_apipb_AddPathStreamRequest>;
  
  AddPeer(argument: _apipb_AddPeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPeer(argument: _apipb_AddPeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPeer(argument: _apipb_AddPeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPeer(argument: _apipb_AddPeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPeer(argument: _apipb_AddPeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPeer(argument: _apipb_AddPeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPeer(argument: _apipb_AddPeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPeer(argument: _apipb_AddPeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  AddPolicy(argument: _apipb_AddPolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPolicy(argument: _apipb_AddPolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPolicy(argument: _apipb_AddPolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPolicy(argument: _apipb_AddPolicyRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPolicy(argument: _apipb_AddPolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPolicy(argument: _apipb_AddPolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPolicy(argument: _apipb_AddPolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPolicy(argument: _apipb_AddPolicyRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  AddPolicyAssignment(argument: _apipb_AddPolicyAssignmentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPolicyAssignment(argument: _apipb_AddPolicyAssignmentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPolicyAssignment(argument: _apipb_AddPolicyAssignmentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  AddPolicyAssignment(argument: _apipb_AddPolicyAssignmentRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPolicyAssignment(argument: _apipb_AddPolicyAssignmentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPolicyAssignment(argument: _apipb_AddPolicyAssignmentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPolicyAssignment(argument: _apipb_AddPolicyAssignmentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  addPolicyAssignment(argument: _apipb_AddPolicyAssignmentRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  DeleteDefinedSet(argument: _apipb_DeleteDefinedSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeleteDefinedSet(argument: _apipb_DeleteDefinedSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeleteDefinedSet(argument: _apipb_DeleteDefinedSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeleteDefinedSet(argument: _apipb_DeleteDefinedSetRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deleteDefinedSet(argument: _apipb_DeleteDefinedSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deleteDefinedSet(argument: _apipb_DeleteDefinedSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deleteDefinedSet(argument: _apipb_DeleteDefinedSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deleteDefinedSet(argument: _apipb_DeleteDefinedSetRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  DeletePath(argument: _apipb_DeletePathRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePath(argument: _apipb_DeletePathRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePath(argument: _apipb_DeletePathRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePath(argument: _apipb_DeletePathRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePath(argument: _apipb_DeletePathRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePath(argument: _apipb_DeletePathRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePath(argument: _apipb_DeletePathRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePath(argument: _apipb_DeletePathRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  DeletePeer(argument: _apipb_DeletePeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePeer(argument: _apipb_DeletePeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePeer(argument: _apipb_DeletePeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePeer(argument: _apipb_DeletePeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePeer(argument: _apipb_DeletePeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePeer(argument: _apipb_DeletePeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePeer(argument: _apipb_DeletePeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePeer(argument: _apipb_DeletePeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  DeletePolicy(argument: _apipb_DeletePolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePolicy(argument: _apipb_DeletePolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePolicy(argument: _apipb_DeletePolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePolicy(argument: _apipb_DeletePolicyRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePolicy(argument: _apipb_DeletePolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePolicy(argument: _apipb_DeletePolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePolicy(argument: _apipb_DeletePolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePolicy(argument: _apipb_DeletePolicyRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  DeletePolicyAssignment(argument: _apipb_DeletePolicyAssignmentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePolicyAssignment(argument: _apipb_DeletePolicyAssignmentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePolicyAssignment(argument: _apipb_DeletePolicyAssignmentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DeletePolicyAssignment(argument: _apipb_DeletePolicyAssignmentRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePolicyAssignment(argument: _apipb_DeletePolicyAssignmentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePolicyAssignment(argument: _apipb_DeletePolicyAssignmentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePolicyAssignment(argument: _apipb_DeletePolicyAssignmentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  deletePolicyAssignment(argument: _apipb_DeletePolicyAssignmentRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  DisablePeer(argument: _apipb_DisablePeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DisablePeer(argument: _apipb_DisablePeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DisablePeer(argument: _apipb_DisablePeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  DisablePeer(argument: _apipb_DisablePeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  disablePeer(argument: _apipb_DisablePeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  disablePeer(argument: _apipb_DisablePeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  disablePeer(argument: _apipb_DisablePeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  disablePeer(argument: _apipb_DisablePeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  EnablePeer(argument: _apipb_EnablePeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  EnablePeer(argument: _apipb_EnablePeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  EnablePeer(argument: _apipb_EnablePeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  EnablePeer(argument: _apipb_EnablePeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  enablePeer(argument: _apipb_EnablePeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  enablePeer(argument: _apipb_EnablePeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  enablePeer(argument: _apipb_EnablePeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  enablePeer(argument: _apipb_EnablePeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  GetBgp(argument: _apipb_GetBgpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_GetBgpResponse__Output>): grpc.ClientUnaryCall;
  GetBgp(argument: _apipb_GetBgpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_apipb_GetBgpResponse__Output>): grpc.ClientUnaryCall;
  GetBgp(argument: _apipb_GetBgpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_GetBgpResponse__Output>): grpc.ClientUnaryCall;
  GetBgp(argument: _apipb_GetBgpRequest, callback: grpc.requestCallback<_apipb_GetBgpResponse__Output>): grpc.ClientUnaryCall;
  getBgp(argument: _apipb_GetBgpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_GetBgpResponse__Output>): grpc.ClientUnaryCall;
  getBgp(argument: _apipb_GetBgpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_apipb_GetBgpResponse__Output>): grpc.ClientUnaryCall;
  getBgp(argument: _apipb_GetBgpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_GetBgpResponse__Output>): grpc.ClientUnaryCall;
  getBgp(argument: _apipb_GetBgpRequest, callback: grpc.requestCallback<_apipb_GetBgpResponse__Output>): grpc.ClientUnaryCall;
  
  GetTable(argument: _apipb_GetTableRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_GetTableResponse__Output>): grpc.ClientUnaryCall;
  GetTable(argument: _apipb_GetTableRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_apipb_GetTableResponse__Output>): grpc.ClientUnaryCall;
  GetTable(argument: _apipb_GetTableRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_GetTableResponse__Output>): grpc.ClientUnaryCall;
  GetTable(argument: _apipb_GetTableRequest, callback: grpc.requestCallback<_apipb_GetTableResponse__Output>): grpc.ClientUnaryCall;
  getTable(argument: _apipb_GetTableRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_GetTableResponse__Output>): grpc.ClientUnaryCall;
  getTable(argument: _apipb_GetTableRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_apipb_GetTableResponse__Output>): grpc.ClientUnaryCall;
  getTable(argument: _apipb_GetTableRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_apipb_GetTableResponse__Output>): grpc.ClientUnaryCall;
  getTable(argument: _apipb_GetTableRequest, callback: grpc.requestCallback<_apipb_GetTableResponse__Output>): grpc.ClientUnaryCall;
  
  ListDefinedSet(argument: _apipb_ListDefinedSetRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListDefinedSetResponse__Output>;
  ListDefinedSet(argument: _apipb_ListDefinedSetRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListDefinedSetResponse__Output>;
  listDefinedSet(argument: _apipb_ListDefinedSetRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListDefinedSetResponse__Output>;
  listDefinedSet(argument: _apipb_ListDefinedSetRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListDefinedSetResponse__Output>;
  
  ListPath(argument: _apipb_ListPathRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPathResponse__Output>;
  ListPath(argument: _apipb_ListPathRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPathResponse__Output>;
  listPath(argument: _apipb_ListPathRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPathResponse__Output>;
  listPath(argument: _apipb_ListPathRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPathResponse__Output>;
  
  ListPeer(argument: _apipb_ListPeerRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPeerResponse__Output>;
  ListPeer(argument: _apipb_ListPeerRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPeerResponse__Output>;
  listPeer(argument: _apipb_ListPeerRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPeerResponse__Output>;
  listPeer(argument: _apipb_ListPeerRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPeerResponse__Output>;
  
  ListPolicy(argument: _apipb_ListPolicyRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPolicyResponse__Output>;
  ListPolicy(argument: _apipb_ListPolicyRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPolicyResponse__Output>;
  listPolicy(argument: _apipb_ListPolicyRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPolicyResponse__Output>;
  listPolicy(argument: _apipb_ListPolicyRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPolicyResponse__Output>;
  
  ListPolicyAssignment(argument: _apipb_ListPolicyAssignmentRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPolicyAssignmentResponse__Output>;
  ListPolicyAssignment(argument: _apipb_ListPolicyAssignmentRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPolicyAssignmentResponse__Output>;
  listPolicyAssignment(argument: _apipb_ListPolicyAssignmentRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPolicyAssignmentResponse__Output>;
  listPolicyAssignment(argument: _apipb_ListPolicyAssignmentRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_ListPolicyAssignmentResponse__Output>;
  
  ResetPeer(argument: _apipb_ResetPeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  ResetPeer(argument: _apipb_ResetPeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  ResetPeer(argument: _apipb_ResetPeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  ResetPeer(argument: _apipb_ResetPeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  resetPeer(argument: _apipb_ResetPeerRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  resetPeer(argument: _apipb_ResetPeerRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  resetPeer(argument: _apipb_ResetPeerRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  resetPeer(argument: _apipb_ResetPeerRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  SetPolicyAssignment(argument: _apipb_SetPolicyAssignmentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  SetPolicyAssignment(argument: _apipb_SetPolicyAssignmentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  SetPolicyAssignment(argument: _apipb_SetPolicyAssignmentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  SetPolicyAssignment(argument: _apipb_SetPolicyAssignmentRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  setPolicyAssignment(argument: _apipb_SetPolicyAssignmentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  setPolicyAssignment(argument: _apipb_SetPolicyAssignmentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  setPolicyAssignment(argument: _apipb_SetPolicyAssignmentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  setPolicyAssignment(argument: _apipb_SetPolicyAssignmentRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  StartBgp(argument: _apipb_StartBgpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  StartBgp(argument: _apipb_StartBgpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  StartBgp(argument: _apipb_StartBgpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  StartBgp(argument: _apipb_StartBgpRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  startBgp(argument: _apipb_StartBgpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  startBgp(argument: _apipb_StartBgpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  startBgp(argument: _apipb_StartBgpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  startBgp(argument: _apipb_StartBgpRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  StopBgp(argument: _apipb_StopBgpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  StopBgp(argument: _apipb_StopBgpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  StopBgp(argument: _apipb_StopBgpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  StopBgp(argument: _apipb_StopBgpRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  stopBgp(argument: _apipb_StopBgpRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  stopBgp(argument: _apipb_StopBgpRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  stopBgp(argument: _apipb_StopBgpRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  stopBgp(argument: _apipb_StopBgpRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  WatchEvent(argument: _apipb_WatchEventRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_WatchEventResponse__Output>;
  WatchEvent(argument: _apipb_WatchEventRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_WatchEventResponse__Output>;
  watchEvent(argument: _apipb_WatchEventRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_WatchEventResponse__Output>;
  watchEvent(argument: _apipb_WatchEventRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_apipb_WatchEventResponse__Output>;
  
}

export interface GobgpApiHandlers extends grpc.UntypedServiceImplementation {
  AddDefinedSet: grpc.handleUnaryCall<_apipb_AddDefinedSetRequest__Output, _google_protobuf_Empty>;
  
  AddPath: grpc.handleUnaryCall<_apipb_AddPathRequest__Output, _apipb_AddPathResponse>;
  
  AddPathStream: grpc.handleClientStreamingCall<_apipb_AddPathStreamRequest__Output, _google_protobuf_Empty>;
  
  AddPeer: grpc.handleUnaryCall<_apipb_AddPeerRequest__Output, _google_protobuf_Empty>;
  
  AddPolicy: grpc.handleUnaryCall<_apipb_AddPolicyRequest__Output, _google_protobuf_Empty>;
  
  AddPolicyAssignment: grpc.handleUnaryCall<_apipb_AddPolicyAssignmentRequest__Output, _google_protobuf_Empty>;
  
  DeleteDefinedSet: grpc.handleUnaryCall<_apipb_DeleteDefinedSetRequest__Output, _google_protobuf_Empty>;
  
  DeletePath: grpc.handleUnaryCall<_apipb_DeletePathRequest__Output, _google_protobuf_Empty>;
  
  DeletePeer: grpc.handleUnaryCall<_apipb_DeletePeerRequest__Output, _google_protobuf_Empty>;
  
  DeletePolicy: grpc.handleUnaryCall<_apipb_DeletePolicyRequest__Output, _google_protobuf_Empty>;
  
  DeletePolicyAssignment: grpc.handleUnaryCall<_apipb_DeletePolicyAssignmentRequest__Output, _google_protobuf_Empty>;
  
  DisablePeer: grpc.handleUnaryCall<_apipb_DisablePeerRequest__Output, _google_protobuf_Empty>;
  
  EnablePeer: grpc.handleUnaryCall<_apipb_EnablePeerRequest__Output, _google_protobuf_Empty>;
  
  GetBgp: grpc.handleUnaryCall<_apipb_GetBgpRequest__Output, _apipb_GetBgpResponse>;
  
  GetTable: grpc.handleUnaryCall<_apipb_GetTableRequest__Output, _apipb_GetTableResponse>;
  
  ListDefinedSet: grpc.handleServerStreamingCall<_apipb_ListDefinedSetRequest__Output, _apipb_ListDefinedSetResponse>;
  
  ListPath: grpc.handleServerStreamingCall<_apipb_ListPathRequest__Output, _apipb_ListPathResponse>;
  
  ListPeer: grpc.handleServerStreamingCall<_apipb_ListPeerRequest__Output, _apipb_ListPeerResponse>;
  
  ListPolicy: grpc.handleServerStreamingCall<_apipb_ListPolicyRequest__Output, _apipb_ListPolicyResponse>;
  
  ListPolicyAssignment: grpc.handleServerStreamingCall<_apipb_ListPolicyAssignmentRequest__Output, _apipb_ListPolicyAssignmentResponse>;
  
  ResetPeer: grpc.handleUnaryCall<_apipb_ResetPeerRequest__Output, _google_protobuf_Empty>;
  
  SetPolicyAssignment: grpc.handleUnaryCall<_apipb_SetPolicyAssignmentRequest__Output, _google_protobuf_Empty>;
  
  StartBgp: grpc.handleUnaryCall<_apipb_StartBgpRequest__Output, _google_protobuf_Empty>;
  
  StopBgp: grpc.handleUnaryCall<_apipb_StopBgpRequest__Output, _google_protobuf_Empty>;
  
  WatchEvent: grpc.handleServerStreamingCall<_apipb_WatchEventRequest__Output, _apipb_WatchEventResponse>;
  
}

export interface GobgpApiDefinition extends grpc.ServiceDefinition {
  AddDefinedSet: MethodDefinition<_apipb_AddDefinedSetRequest, _google_protobuf_Empty, _apipb_AddDefinedSetRequest__Output, _google_protobuf_Empty__Output>
  AddPath: MethodDefinition<_apipb_AddPathRequest, _apipb_AddPathResponse, _apipb_AddPathRequest__Output, _apipb_AddPathResponse__Output>
  AddPathStream: MethodDefinition<_apipb_AddPathStreamRequest, _google_protobuf_Empty, _apipb_AddPathStreamRequest__Output, _google_protobuf_Empty__Output>
  AddPeer: MethodDefinition<_apipb_AddPeerRequest, _google_protobuf_Empty, _apipb_AddPeerRequest__Output, _google_protobuf_Empty__Output>
  AddPolicy: MethodDefinition<_apipb_AddPolicyRequest, _google_protobuf_Empty, _apipb_AddPolicyRequest__Output, _google_protobuf_Empty__Output>
  AddPolicyAssignment: MethodDefinition<_apipb_AddPolicyAssignmentRequest, _google_protobuf_Empty, _apipb_AddPolicyAssignmentRequest__Output, _google_protobuf_Empty__Output>
  DeleteDefinedSet: MethodDefinition<_apipb_DeleteDefinedSetRequest, _google_protobuf_Empty, _apipb_DeleteDefinedSetRequest__Output, _google_protobuf_Empty__Output>
  DeletePath: MethodDefinition<_apipb_DeletePathRequest, _google_protobuf_Empty, _apipb_DeletePathRequest__Output, _google_protobuf_Empty__Output>
  DeletePeer: MethodDefinition<_apipb_DeletePeerRequest, _google_protobuf_Empty, _apipb_DeletePeerRequest__Output, _google_protobuf_Empty__Output>
  DeletePolicy: MethodDefinition<_apipb_DeletePolicyRequest, _google_protobuf_Empty, _apipb_DeletePolicyRequest__Output, _google_protobuf_Empty__Output>
  DeletePolicyAssignment: MethodDefinition<_apipb_DeletePolicyAssignmentRequest, _google_protobuf_Empty, _apipb_DeletePolicyAssignmentRequest__Output, _google_protobuf_Empty__Output>
  DisablePeer: MethodDefinition<_apipb_DisablePeerRequest, _google_protobuf_Empty, _apipb_DisablePeerRequest__Output, _google_protobuf_Empty__Output>
  EnablePeer: MethodDefinition<_apipb_EnablePeerRequest, _google_protobuf_Empty, _apipb_EnablePeerRequest__Output, _google_protobuf_Empty__Output>
  GetBgp: MethodDefinition<_apipb_GetBgpRequest, _apipb_GetBgpResponse, _apipb_GetBgpRequest__Output, _apipb_GetBgpResponse__Output>
  GetTable: MethodDefinition<_apipb_GetTableRequest, _apipb_GetTableResponse, _apipb_GetTableRequest__Output, _apipb_GetTableResponse__Output>
  ListDefinedSet: MethodDefinition<_apipb_ListDefinedSetRequest, _apipb_ListDefinedSetResponse, _apipb_ListDefinedSetRequest__Output, _apipb_ListDefinedSetResponse__Output>
  ListPath: MethodDefinition<_apipb_ListPathRequest, _apipb_ListPathResponse, _apipb_ListPathRequest__Output, _apipb_ListPathResponse__Output>
  ListPeer: MethodDefinition<_apipb_ListPeerRequest, _apipb_ListPeerResponse, _apipb_ListPeerRequest__Output, _apipb_ListPeerResponse__Output>
  ListPolicy: MethodDefinition<_apipb_ListPolicyRequest, _apipb_ListPolicyResponse, _apipb_ListPolicyRequest__Output, _apipb_ListPolicyResponse__Output>
  ListPolicyAssignment: MethodDefinition<_apipb_ListPolicyAssignmentRequest, _apipb_ListPolicyAssignmentResponse, _apipb_ListPolicyAssignmentRequest__Output, _apipb_ListPolicyAssignmentResponse__Output>
  ResetPeer: MethodDefinition<_apipb_ResetPeerRequest, _google_protobuf_Empty, _apipb_ResetPeerRequest__Output, _google_protobuf_Empty__Output>
  SetPolicyAssignment: MethodDefinition<_apipb_SetPolicyAssignmentRequest, _google_protobuf_Empty, _apipb_SetPolicyAssignmentRequest__Output, _google_protobuf_Empty__Output>
  StartBgp: MethodDefinition<_apipb_StartBgpRequest, _google_protobuf_Empty, _apipb_StartBgpRequest__Output, _google_protobuf_Empty__Output>
  StopBgp: MethodDefinition<_apipb_StopBgpRequest, _google_protobuf_Empty, _apipb_StopBgpRequest__Output, _google_protobuf_Empty__Output>
  WatchEvent: MethodDefinition<_apipb_WatchEventRequest, _apipb_WatchEventResponse, _apipb_WatchEventRequest__Output, _apipb_WatchEventResponse__Output>
}
