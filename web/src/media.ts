// Images go straight to the media store through presigned URLs (docs/media.md):
// declare, PUT the bytes with exactly the signed headers, complete, attach.
import type { RingchatClient } from "../../sdk/typescript/src/index.ts";

export async function uploadImage(client: RingchatClient, file: File): Promise<string> {
  const up = (await client.call("post", "/v1/media", { body: { content_type: file.type, size: file.size, purpose: "message" } })) as unknown as {
    media_id: string;
    upload_url: string;
    upload_method?: string;
    upload_headers: Record<string, string>;
  };
  const headers = { ...up.upload_headers };
  delete headers["Content-Length"]; // the browser sets it from the body; it may not be set by hand
  delete headers["content-length"];
  const put = await fetch(up.upload_url, { method: up.upload_method ?? "PUT", headers, body: file });
  if (!put.ok) throw new Error(`upload refused by the media store (${put.status})`);
  await client.call("post", "/v1/media/{media_id}/complete", { path: { media_id: up.media_id } });
  return up.media_id;
}

const urls = new Map<string, { url: string; until: number }>();

/** A download URL for a media id, reused until shortly before it expires. */
export async function openMedia(client: RingchatClient, id: string): Promise<string> {
  const hit = urls.get(id);
  if (hit && hit.until > Date.now()) return hit.url;
  const out = (await client.call("get", "/v1/media/{media_id}", { path: { media_id: id } })) as unknown as { download_url: string; expires_at: string };
  urls.set(id, { url: out.download_url, until: Date.parse(out.expires_at) - 30_000 });
  return out.download_url;
}
