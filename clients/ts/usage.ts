// A frontend's use of the generated types: submit an itinerary, long-poll its job, read the
// result. `generated/schema.d.ts` is made from /openapi.json by scripts/check_ts_client.sh;
// if the contract changes under this file, `tsc` fails in CI.
import type { components, paths } from "./generated/schema";

type ItineraryRequest =
  paths["/api/v1/itineraries"]["post"]["requestBody"]["content"]["application/json"];
type Job = paths["/api/v1/jobs/{job_id}"]["get"]["responses"][200]["content"]["application/json"];
type Itinerary =
  paths["/api/v1/itineraries/{itinerary_id}"]["get"]["responses"][200]["content"]["application/json"];
type Problem = components["schemas"]["Problem"];

const API = "https://api.baliblissed.com";

async function call<T>(path: string, init: RequestInit, token?: string): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("Accept", "application/json");
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(`${API}${path}`, { ...init, headers });
  if (!response.ok) {
    const problem = (await response.json()) as Problem; // application/problem+json
    throw new Error(`${problem.status} ${problem.code}: ${problem.detail ?? problem.title}`);
  }
  return (await response.json()) as T;
}

export async function planTrip(token?: string): Promise<Itinerary> {
  const request: ItineraryRequest = {
    duration_days: 5,
    travelers: { adults: 2, children: 0 },
    budget: "moderate",
    interests: ["temples", "rice terraces"],
    pace: "balanced",
  };
  let job = await call<Job>(
    "/api/v1/itineraries",
    {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify(request),
    },
    token,
  );
  // Long-poll: the API answers as soon as the job is terminal, or after `wait` seconds.
  while (job.status === "queued" || job.status === "running") {
    job = await call<Job>(`/api/v1/jobs/${job.id}?wait=25`, { method: "GET" }, token);
  }
  if (job.status !== "succeeded") {
    throw new Error(`The itinerary job ended ${job.status}`);
  }
  const itineraryId = job.result?.["itinerary_id"];
  if (typeof itineraryId !== "string") throw new Error("The job names no itinerary");
  const itinerary = await call<Itinerary>(`/api/v1/itineraries/${itineraryId}`, { method: "GET" }, token);
  for (const day of itinerary.days ?? []) {
    console.log(day);
  }
  return itinerary;
}
