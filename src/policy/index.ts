export { challengeRecordName, route53Policy, type IamPolicyDocument, type IamStatement, type Route53PolicyInput } from './route53.js';
