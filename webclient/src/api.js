// A thin fetch wrapper for /api/v1. Whether the server is reachable is learnt from real requests
// (navigator.onLine only says a network interface is up, not that the server answers).

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter = null) {
    super(`${status} ${code}: ${detail}`);
    this.status = status; // 0 means the request never got an answer
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

function text(detail) {
  if (typeof detail === 'string') return detail;
  try { return JSON.stringify(detail); } catch { return String(detail); }
}

export function createApi({ base = '/api/v1', getToken = () => null, onReach = () => {}, timeoutMs = 30000 } = {}) {
  async function request(method, path, body, { auth = true, timeout = timeoutMs } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = auth ? getToken() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeout);
    let res;
    let json = null;
    try {
      res = await fetch(base + path, {
        method, headers, signal: ctl.signal, cache: 'no-store', credentials: 'omit',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status !== 204) {
        const raw = await res.text();
        if (raw) {
          try { json = JSON.parse(raw); } catch { json = null; }
        }
      }
    } catch (err) {
      onReach(false);
      throw new ApiError(0, ctl.signal.aborted ? 'timeout' : 'network', String((err && err.message) || err));
    } finally {
      clearTimeout(timer);
    }
    onReach(true);
    if (!res.ok) {
      const retry = Number(res.headers.get('Retry-After'));
      throw new ApiError(res.status, (json && json.code) || `http_${res.status}`,
        text((json && json.detail) || res.statusText), Number.isFinite(retry) && retry > 0 ? retry : null);
    }
    if (res.status !== 204 && json === null) throw new ApiError(0, 'bad_response', 'the answer was not JSON');
    return json;
  }

  return {
    request,
    health: () => request('GET', '/health', undefined, { auth: false, timeout: 8000 }),
    erased: (after) => request('GET', `/sync/erased?after=${encodeURIComponent(after)}`),
    confirmErased: (deviceId, consentIds) => request('POST', '/sync/erased', { device_id: deviceId, consent_ids: consentIds }),
    login: (email, password) => request('POST', '/auth/login', { email, password }, { auth: false }),
    enrol: (code, deviceLabel) => request('POST', '/auth/enrol', { code, device_label: deviceLabel }, { auth: false }),
    logout: () => request('POST', '/auth/logout', undefined, { timeout: 8000 }),
    me: () => request('GET', '/me'),
    captureKit: (projectId) => request('GET', `/projects/${encodeURIComponent(projectId)}/capture-kit`),
    sync: (deviceId, items) => request('POST', '/sync', { device_id: deviceId, items }, { timeout: 60000 }),
  };
}
