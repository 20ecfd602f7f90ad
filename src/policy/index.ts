export { challengeRecordName, route53Policy, type IamPolicyDocument, type IamStatement, type Route53PolicyInput } from './route53.js';
export {
  CN_TAG,
  FLEET_RECORD_NAME,
  fleetDnsPolicy,
  fleetDnsTrustPolicy,
  type FleetDnsPolicyInput,
  type FleetDnsTrustInput,
  type IamTrustPolicyDocument,
  type IamTrustStatement,
} from './fleet.js';
export {
  ROLES_ANYWHERE_SERVICE,
  TOTP_SESSION_PATTERN,
  TRUST_ACTIONS,
  denyStatement,
  profileSettings,
  roleTrustPolicy,
  type DenyStatement,
  type ProfileSettings,
  type RoleTrustInput,
} from './trust.js';
