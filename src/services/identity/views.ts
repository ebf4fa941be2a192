// What the identity services return; the REST API sends these as they are. Where ACR has the
// object (tokens, scope maps, service principals, role assignments, login and repository events)
// the fields are ACR's and Azure's, so `az`-style output and scripts carry over.

export type TokenPasswordName = 'password1' | 'password2';
export type AdminPasswordName = 'password' | 'password2';

export interface UserView {
  name: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface PasswordCredentialView {
  keyId: string;
  hint: string;
  startDateTime: string;
  endDateTime: string | null;
}

export interface ServicePrincipalView {
  appId: string;
  displayName: string;
  createdDateTime: string;
  passwordCredentials: PasswordCredentialView[];
}

export interface RoleAssignmentView {
  id: string;
  name: string;
  principalName: string;
  principalType: 'User' | 'ServicePrincipal';
  roleDefinitionName: string;
  scope: string;
  createdOn: string;
}

export interface TokenPasswordView {
  name: string;
  creationTime: string;
  expiry: string | null;
  value?: string;
}

export interface TokenView {
  name: string;
  id: string;
  registry: string;
  creationDate: string;
  lastUpdated: string;
  status: 'enabled' | 'disabled';
  scopeMapName: string;
  scopeMapId: string;
  credentials: { username: string; passwords: TokenPasswordView[]; certificates: [] };
  provisioningState: 'Succeeded';
  type: 'tokens';
}

export interface ScopeMapView {
  name: string;
  id: string;
  registry: string;
  type: 'SystemDefined' | 'UserDefined';
  description: string;
  actions: string[];
  creationDate: string;
  provisioningState: 'Succeeded';
}

export interface AdminCredentialsView {
  username: string;
  passwords: { name: AdminPasswordName; value: string }[];
}

export interface AnonymousPullView {
  registry: string;
  /** Registry-wide switch (ACR's anonymousPullEnabled; Standard and Premium only). */
  anonymousPullEnabled: boolean;
  /** Repositories and "prefix/*" patterns open to anonymous pull on any tier (beyond ACR). */
  repositories: { repository: string; createdAt: string }[];
}

export interface LoginEventView {
  id: number;
  time: string;
  category: 'ContainerRegistryLoginEvents';
  registry: string | null;
  identity: string;
  identityType: string;
  jwtId: string | null;
  callerIpAddress: string;
  userAgent: string;
  operation: string;
  resultType: string;
  resultDescription: string;
  status: number;
  durationMs: number;
}

/** ACR's ContainerRegistryRepositoryEvents record (FEATURES.md §9.7), from the events outbox. */
export interface RepositoryEventView {
  id: number;
  time: string;
  category: 'ContainerRegistryRepositoryEvents';
  registry: string;
  operationName: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  size: number | null;
  identity: string | null;
  callerIpAddress: string | null;
  userAgent: string | null;
  correlationId: string | null;
  loginServer: string | null;
  requestMethod: string | null;
  resultType: 'Succeeded';
}

export interface RepositoryEventQuery {
  registry?: string;
  since?: string;
  /** Only events before this time (exclusive): an ISO time or a span ago, as since. */
  until?: string;
  identity?: string;
  operation?: string;
  top?: number;
  before?: number;
}

export interface LoginQuery {
  registry?: string;
  since?: string;
  /** Only events before this time (exclusive): an ISO time or a span ago, as since. */
  until?: string;
  identity?: string;
  result?: string;
  /** Leaves out sign-ins whose user agent starts with this (berth-cli/ hides the CLI's own). */
  excludeUserAgentPrefix?: string;
  top?: number;
  before?: number;
}
