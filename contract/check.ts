// What a client developer writes against the generated types (generated/api.d.ts, made by
// openapi-typescript from openapi.yaml). `tsc --noEmit --strict` compiles this file in
// .ci/contract: a renamed operation, a dropped field, an error code no longer declared or a
// header no longer set breaks the compile before it breaks a client.
import type { components, operations } from "./generated/api";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Responses<Op extends keyof operations> = operations[Op]["responses"];

// ---------------------------------------------------------------- a station posts a need
type NewRequest = NonNullable<
  operations["api_v1_requests_create"]["requestBody"]
>["content"]["application/json"];

export const need: NewRequest = {
  station: 3,
  village: 12,
  campaign: 1,
  title: "敬老院老人健康义诊",
  specialties: [2],
  starts_at: "2026-12-12T09:00:00+08:00",
  ends_at: "2026-12-12T11:30:00+08:00",
  slots: 4,
};

export function postedTitle(created: Json<Responses<"api_v1_requests_create">[201]>): string {
  return `${created.title}（${created.station.name}，余 ${created.available} 个名额）`;
}

// ---------------------------------------------------------------- a member claims it
type ClaimConflict = Json<Responses<"api_v1_requests_claims_create">[409]>;
type ClaimForbidden = Json<Responses<"api_v1_requests_claims_create">[403]>;

// Exhaustive over the closed enum: a code added to the operation breaks this switch.
export function explainConflict(error: ClaimConflict): string {
  switch (error.code) {
    case "request_full":
      return "名额已满，可加入候补";
    case "already_claimed":
      return "您已认领";
    case "request_not_open":
      return "该需求当前不可认领";
    case "time_conflict":
      return `与需求 ${error.conflicting_request ?? "?"} 时间冲突`;
    case "claim_rejected":
      return "驿站已拒绝您的认领";
    case "idempotency_in_progress":
      return "请求处理中，请稍后重试";
    default: {
      const unreachable: never = error.code;
      return unreachable;
    }
  }
}

export function explainForbidden(error: ClaimForbidden): string {
  if (error.code === "invite_window") {
    return `邀请团队优先，${error.invite_until ?? ""} 后开放`;
  }
  return error.code === "member_profile_required" ? "请先完善委员档案" : error.detail;
}

// The headers the API sets are typed too.
type Claimed = Responses<"api_v1_requests_claims_create">[201];
export function replayed(response: Claimed["headers"]): boolean {
  return response["Idempotent-Replayed"] === "true";
}
export function retryAfter(response: Responses<"api_v1_requests_claims_create">[429]["headers"]) {
  const seconds: number | undefined = response["Retry-After"];
  return seconds ?? 1;
}

// ---------------------------------------------------------------- on site
type CheckIn = NonNullable<
  operations["api_v1_claims_check_in_create"]["requestBody"]
>["content"]["application/json"];
export const here: CheckIn = { lat: 28.6712, lng: 121.4203, coord_type: "gcj02" };

export function tooFar(error: Json<Responses<"api_v1_claims_check_in_create">[422]>): string {
  if (error.code === "too_far") {
    const metres: number | undefined = error.distance_m;
    return `距离服务地点约 ${metres ?? "?"} 米，需在 ${error.geofence_m ?? "?"} 米内`;
  }
  return error.detail;
}

// ---------------------------------------------------------------- the record and its review
type Verify = NonNullable<
  operations["api_v1_records_verify_create"]["requestBody"]
>["content"]["application/json"];
export const approve: Verify = {
  approved: true,
  note: "照片与签到一致，时长按签到签退确认。",
  hours: [{ claim: 102, minutes: 100, reason: "10:40 提前离开" }],
};

type AnomalyFlag = components["schemas"]["AnomalyFlagCodeEnum"];
export function flagsToReview(
  error: Json<Responses<"api_v1_records_verify_create">[400]>,
): AnomalyFlag[] {
  return error.code === "flags_not_acknowledged" ? (error.flags ?? []) : [];
}

// ---------------------------------------------------------------- a resident's intake
type Intake = NonNullable<
  operations["api_v1_intake_create"]["requestBody"]
>["content"]["application/json"];
export const intake: Intake = {
  code: "K7Q2M9XA",
  specialty: 2,
  description: "家里老人腿脚不便，想请医生上门量一下血压。",
  phone: "13905769876",
};

// ---------------------------------------------------------------- reference data with ETag
export function etagOf(response: Responses<"api_v1_towns_list">[200]["headers"]): string {
  return response.ETag;
}
