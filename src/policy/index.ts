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
