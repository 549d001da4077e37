import { randomUUID } from 'node:crypto';
import type pg from 'pg';

/** A tenant the load acts for: its id, an owner's JWT, and the prefix of every name it writes. */
export interface LoadTenant {
  id: string;
  token: string;
  prefix: string;
}

/** A contact record of a tenant: its email is unique in the tenant (case-insensitive), not across tenants. */
interface Contact {
  id: string;
  tenant: LoadTenant;
  email: string;
}

interface Project {
  id: string;
  tenant: LoadTenant;
  name: string;
  tasks: Set<string>;
}

export interface LoadResult {
  requests: number;
  byStatus: Record<number, number>;
  /** Rows in a response that the asking tenant does not own. */
  leaks: string[];
  /** Responses whose status was neither the expected one nor an allowed fault. */
  unexpected: string[];
  /** Requests that failed with 503 or a dropped connection (allowed only when faults are injected). */
  faults: number;
  /** 503 bodies that were not problem+json with a stable code. */
  badFaultBodies: string[];
  acknowledgedWrites: number;
}

/** A small seeded generator, so a failing run can be replayed with the same seed. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mixed traffic from many tenants through the running service, every response checked
 * against a model of what each tenant owns. The model also records every acknowledged write,
 * which `verifyWrites` then compares with the database.
 *
 * Reads, creates (some with a replayed Idempotency-Key), updates, deletes, lists and task
 * writes, and requests that must fail: another tenant's ids in paths and references, invalid
 * bodies, bad tokens. At most one request touches a project at a time, so every expected
 * status is exact. Tenant-defined records too: contacts with a unique email per tenant
 * (another tenant's email is free, the tenant's own in another case is 409), looked up by
 * email, and notes that may refer to the tenant's own contacts only.
 */
export class MixedLoad {
  readonly projects = new Map<string, Project>();
  /** Creates whose outcome is unknown (fault): the row may or may not exist. */
  readonly inDoubt = new Set<string>();
  readonly deleted = new Set<string>();
  private readonly busy = new Set<string>();
  private readonly owned = new Map<string, Project[]>();
  readonly contacts = new Map<string, Contact>();
  private readonly contactsOf = new Map<string, Contact[]>();
  /** Emails whose create's outcome is unknown, by tenant: never reused. */
  private readonly emailsInDoubt = new Set<string>();
  private prepared = false;
  private counter = 0;
  private remaining = 0;
  /** Whether 503s and dropped connections are expected in the current run (faults injected). */
  private allowFaults = false;
  private result = MixedLoad.emptyResult();

  private static emptyResult(): LoadResult {
    return { requests: 0, byStatus: {}, leaks: [], unexpected: [], faults: 0, badFaultBodies: [], acknowledgedWrites: 0 };
  }

  constructor(
    private readonly baseUrl: string,
    private readonly tenants: readonly LoadTenant[],
    private readonly options: { seed?: number } = {},
  ) {
    for (const t of tenants) {
      this.owned.set(t.id, []);
      this.contactsOf.set(t.id, []);
    }
  }

  /** Defines each tenant's record types (contact, note), once, before the first run. */
  private async prepare(): Promise<void> {
    if (this.prepared) return;
    this.prepared = true;
    for (const tenant of this.tenants) {
      for (const body of [
        { name: 'contact', fields: [{ name: 'email', kind: 'text', required: true, unique: true, case_insensitive: true }, { name: 'name', kind: 'text' }] },
        { name: 'note', fields: [{ name: 'about', kind: 'reference', required: true, references: { type: 'contact', on_delete: 'cascade' } }] },
      ]) {
        const { status, json } = await this.send(tenant, 'POST', '/v1/record-types', body);
        if (status !== 201) throw new Error(`record type ${body.name} for ${tenant.prefix}: ${status} ${JSON.stringify(json)}`);
      }
    }
  }

  /** Sends `requests` requests from `concurrency` concurrent clients; the figures are this run's. */
  async run(requests: number, concurrency: number, { allowFaults = false } = {}): Promise<LoadResult> {
    const next = random((this.options.seed ?? 1) + this.counter);
    this.result = MixedLoad.emptyResult();
    this.allowFaults = allowFaults;
    await this.prepare();
    this.remaining = requests;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (this.remaining-- > 0) await this.step(next);
      }),
    );
    return this.result;
  }

  /** Ends a run early: requests in flight finish, no new ones start. */
  stop(): void {
    this.remaining = 0;
  }

  private async step(next: () => number): Promise<void> {
    const tenant = this.tenants[Math.floor(next() * this.tenants.length)]!;
    const other = this.tenants[(this.tenants.indexOf(tenant) + 1 + Math.floor(next() * (this.tenants.length - 1))) % this.tenants.length]!;
    const mine = this.free(tenant, next);
    const theirs = this.free(other, next);
    const roll = next();
    try {
      if (next() < 0.15) return await this.recordStep(tenant, other, next);
      if (roll < 0.2 || !mine) return await this.createProject(tenant, next() < 0.1);
      if (roll < 0.35) return await this.listProjects(tenant);
      if (roll < 0.43) return await this.listTasks(tenant);
      this.busy.add(mine.id);
      try {
        if (roll < 0.55) return await this.getProject(tenant, mine);
        if (roll < 0.65) return await this.createTask(tenant, mine);
        if (roll < 0.73) return await this.renameProject(tenant, mine);
        if (roll < 0.77) return await this.deleteProject(tenant, mine);
      } finally {
        this.busy.delete(mine.id);
      }
      // Requests that must fail, and must not disturb anything.
      if (roll < 0.83 && theirs) return await this.expect(tenant, 'GET', `/v1/projects/${theirs.id}`, undefined, 404);
      if (roll < 0.87 && theirs) return await this.expect(tenant, 'PATCH', `/v1/projects/${theirs.id}`, { name: `${tenant.prefix}-stolen` }, 404);
      if (roll < 0.91 && theirs) return await this.expect(tenant, 'POST', '/v1/tasks', { project_id: theirs.id, title: `${tenant.prefix}-x` }, 422);
      if (roll < 0.95) return await this.expect(tenant, 'POST', '/v1/projects', { name: 42, tenant_id: other.id }, 400);
      return await this.expect({ ...tenant, token: `${tenant.token}x` }, 'GET', '/v1/projects', undefined, 401);
    } catch (error) {
      this.fault(`${tenant.prefix}: ${(error as Error).message}`);
    }
  }

  /** One of the tenant's projects that no other request is touching. */
  private free(tenant: LoadTenant, next: () => number): Project | undefined {
    const list = this.owned.get(tenant.id)!;
    for (let tries = 0; tries < 3 && list.length > 0; tries++) {
      const p = list[Math.floor(next() * list.length)]!;
      if (!this.busy.has(p.id)) return p;
    }
    return undefined;
  }

  private async send(tenant: LoadTenant, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    this.result.requests++;
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${tenant.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    this.result.byStatus[response.status] = (this.result.byStatus[response.status] ?? 0) + 1;
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    if (response.status === 503) {
      if (!response.headers.get('content-type')?.startsWith('application/problem+json') || typeof json?.code !== 'string') this.result.badFaultBodies.push(text.slice(0, 200));
    }
    return { status: response.status, json };
  }

  /** True when the status is the expected one; records a fault or an unexpected status otherwise. */
  private check(what: string, status: number, expected: number, json: unknown): boolean {
    if (status === expected) return true;
    if (status === 503) this.fault(what);
    else this.result.unexpected.push(`${what}: ${status} ${JSON.stringify(json).slice(0, 200)}`);
    return false;
  }

  private fault(what: string) {
    this.result.faults++;
    if (!this.allowFaults) this.result.unexpected.push(`fault without injection: ${what}`);
  }

  private checkOwned(tenant: LoadTenant, what: string, row: { id?: string; name?: string; project_id?: string }) {
    const project = row.project_id ?? row.id;
    const known = project ? this.projects.get(project) : undefined;
    const foreign =
      (known && known.tenant !== tenant) || (row.name !== undefined && !row.name.startsWith(`${tenant.prefix}-`)) || (row.project_id !== undefined && !known);
    if (foreign) this.result.leaks.push(`${tenant.prefix} saw ${what} ${JSON.stringify(row)}`);
  }

  private async expect(tenant: LoadTenant, method: string, path: string, body: unknown, expected: number) {
    const { status, json } = await this.send(tenant, method, path, body);
    this.check(`${method} ${path}`, status, expected, json);
    if (status < 300) this.result.leaks.push(`${tenant.prefix} got ${status} for ${method} ${path}: ${JSON.stringify(json).slice(0, 200)}`);
  }

  private async createProject(tenant: LoadTenant, replay: boolean) {
    const name = `${tenant.prefix}-p${++this.counter}`;
    const key = replay ? randomUUID() : undefined;
    const headers: Record<string, string> = key ? { 'idempotency-key': key } : {};
    this.inDoubt.add(name);
    const { status, json } = await this.send(tenant, 'POST', '/v1/projects', { name }, headers);
    if (!this.check('POST /v1/projects', status, 201, json)) return;
    this.checkOwned(tenant, 'a created project', json);
    if (key) {
      const again = await this.send(tenant, 'POST', '/v1/projects', { name }, headers);
      if (this.check('replayed POST /v1/projects', again.status, 201, again.json) && again.json.id !== json.id) {
        this.result.unexpected.push(`replay of ${key} created ${again.json.id} besides ${json.id}`);
      }
    }
    this.inDoubt.delete(name);
    const project: Project = { id: json.id, tenant, name, tasks: new Set() };
    this.projects.set(project.id, project);
    this.owned.get(tenant.id)!.push(project);
    this.result.acknowledgedWrites++;
  }

  private async listProjects(tenant: LoadTenant) {
    const { status, json } = await this.send(tenant, 'GET', '/v1/projects?limit=50');
    if (!this.check('GET /v1/projects', status, 200, json)) return;
    for (const row of json.data) this.checkOwned(tenant, 'in its project list', row);
  }

  private async listTasks(tenant: LoadTenant) {
    const { status, json } = await this.send(tenant, 'GET', '/v1/tasks?limit=50');
    if (!this.check('GET /v1/tasks', status, 200, json)) return;
    for (const row of json.data) this.checkOwned(tenant, 'in its task list', row);
  }

  private async getProject(tenant: LoadTenant, project: Project) {
    const { status, json } = await this.send(tenant, 'GET', `/v1/projects/${project.id}`);
    if (!this.check('GET project', status, 200, json)) return;
    this.checkOwned(tenant, 'reading its project', json);
    // project.name holds "a|b" when a rename's outcome is unknown: either is right.
    if (json.id !== project.id || !project.name.split('|').includes(json.name)) {
      this.result.unexpected.push(`GET ${project.id} returned ${json.id} named ${json.name}, expected ${project.name}`);
    }
    project.name = json.name;
  }

  private async createTask(tenant: LoadTenant, project: Project) {
    const { status, json } = await this.send(tenant, 'POST', '/v1/tasks', { project_id: project.id, title: `${tenant.prefix}-t${++this.counter}` });
    if (!this.check('POST /v1/tasks', status, 201, json)) return;
    this.checkOwned(tenant, 'a created task', json);
    project.tasks.add(json.id);
    this.result.acknowledgedWrites++;
  }

  private async renameProject(tenant: LoadTenant, project: Project) {
    const name = `${tenant.prefix}-r${++this.counter}`;
    const { status, json } = await this.send(tenant, 'PATCH', `/v1/projects/${project.id}`, { name });
    // After a fault the rename may or may not have committed: either name is acceptable.
    if (!this.check('PATCH project', status, 200, json)) return void (project.name = `${project.name}|${name}`);
    this.checkOwned(tenant, 'a renamed project', json);
    project.name = name;
    this.result.acknowledgedWrites++;
  }

  private async deleteProject(tenant: LoadTenant, project: Project) {
    const { status, json } = await this.send(tenant, 'DELETE', `/v1/projects/${project.id}`);
    const list = this.owned.get(tenant.id)!;
    list.splice(list.indexOf(project), 1);
    if (!this.check('DELETE project', status, 204, json)) return void this.inDoubt.add(project.name);
    this.deleted.add(project.id);
    this.result.acknowledgedWrites++;
  }

  /** One request on records: creates, duplicates, lookups, lists, and references across tenants. */
  private async recordStep(tenant: LoadTenant, other: LoadTenant, next: () => number): Promise<void> {
    const mine = this.contactsOf.get(tenant.id)!;
    const theirs = this.contactsOf.get(other.id)!;
    const pick = (list: Contact[]) => list[Math.floor(next() * list.length)];
    const roll = next();
    const own = pick(mine);
    const foreign = pick(theirs);
    if (roll < 0.3 || !own) return this.createContact(tenant, `${tenant.prefix}-c${++this.counter}@example.test`);
    // Another tenant's email is free here, unless this tenant has it already or may have it.
    if (roll < 0.4 && foreign && !mine.some((c) => c.email.toLowerCase() === foreign.email.toLowerCase()) && !this.emailsInDoubt.has(`${tenant.id} ${foreign.email.toLowerCase()}`)) {
      return this.createContact(tenant, foreign.email);
    }
    if (roll < 0.5) return this.expect(tenant, 'POST', '/v1/records/contact', { data: { email: own.email.toUpperCase(), name: `${tenant.prefix}-dup` } }, 409);
    if (roll < 0.65) {
      const { status, json } = await this.send(tenant, 'GET', `/v1/records/contact?filter[email]=${encodeURIComponent(own.email.toLowerCase())}`);
      if (!this.check('GET contact by email', status, 200, json)) return;
      if (json.data.length !== 1 || json.data[0].id !== own.id) this.result.unexpected.push(`${tenant.prefix} looked up ${own.email}: ${JSON.stringify(json.data).slice(0, 200)}`);
      return;
    }
    if (roll < 0.75) {
      const { status, json } = await this.send(tenant, 'GET', '/v1/records/contact?limit=50');
      if (!this.check('GET contacts', status, 200, json)) return;
      for (const row of json.data) {
        const known = this.contacts.get(row.id);
        if ((known && known.tenant !== tenant) || !String(row.data?.name).startsWith(`${tenant.prefix}-`)) this.result.leaks.push(`${tenant.prefix} saw contact ${JSON.stringify(row).slice(0, 200)}`);
      }
      return;
    }
    if (roll < 0.85) {
      const { status, json } = await this.send(tenant, 'POST', '/v1/records/note', { data: { about: own.id } });
      if (this.check('POST note', status, 201, json)) this.result.acknowledgedWrites++;
      return;
    }
    if (roll < 0.93 && foreign) return this.expect(tenant, 'POST', '/v1/records/note', { data: { about: foreign.id } }, 422);
    if (foreign) return this.expect(tenant, 'GET', `/v1/records/contact/${foreign.id}`, undefined, 404);
  }

  private async createContact(tenant: LoadTenant, email: string) {
    const doubt = `${tenant.id} ${email.toLowerCase()}`;
    this.emailsInDoubt.add(doubt);
    const { status, json } = await this.send(tenant, 'POST', '/v1/records/contact', { data: { email, name: `${tenant.prefix}-n${++this.counter}` } });
    if (!this.check(`POST contact ${email}`, status, 201, json)) return;
    this.emailsInDoubt.delete(doubt);
    const contact: Contact = { id: json.id, tenant, email };
    this.contacts.set(contact.id, contact);
    this.contactsOf.get(tenant.id)!.push(contact);
    this.result.acknowledgedWrites++;
  }

  /**
   * Compares the model with the database through the owner connection: every acknowledged
   * write is there (projects with their tenant and last name, tasks), every acknowledged delete
   * is gone, and no row exists that no request asked for. Returns the differences.
   */
  async verifyWrites(owner: pg.ClientBase): Promise<{ checkedRows: number; lost: string[]; phantom: string[] }> {
    const tenantIds = this.tenants.map((t) => t.id);
    const { rows: projects } = await owner.query<{ id: string; tenant_id: string; name: string }>('select id, tenant_id, name from projects where tenant_id = any($1)', [tenantIds]);
    const { rows: tasks } = await owner.query<{ id: string; project_id: string }>('select id, project_id from tasks where tenant_id = any($1)', [tenantIds]);
    const stored = new Map(projects.map((p) => [p.id, p]));
    const storedTasks = new Set(tasks.map((t) => t.id));
    const lost: string[] = [];
    const phantom: string[] = [];
    for (const p of this.projects.values()) {
      const row = stored.get(p.id);
      if (this.deleted.has(p.id)) {
        if (row) lost.push(`deleted project ${p.id} is still there`);
        continue;
      }
      if (!row) {
        if (!this.inDoubt.has(p.name)) lost.push(`project ${p.id} (${p.name}) is missing`);
        continue;
      }
      if (row.tenant_id !== p.tenant.id) lost.push(`project ${p.id} moved to tenant ${row.tenant_id}`);
      if (!p.name.split('|').includes(row.name)) lost.push(`project ${p.id} is named ${row.name}, expected ${p.name}`);
      for (const task of p.tasks) if (!storedTasks.has(task)) lost.push(`task ${task} of project ${p.id} is missing`);
    }
    for (const row of projects) {
      if (!this.projects.has(row.id) && !this.inDoubt.has(row.name)) phantom.push(`project ${row.id} (${row.name}) was never acknowledged`);
    }
    const { rows: contacts } = await owner.query<{ id: string; tenant_id: string; email: string }>(
      `select id, tenant_id, data->>'email' as email from records where tenant_id = any($1) and type = 'contact'`,
      [tenantIds],
    );
    const storedContacts = new Map(contacts.map((c) => [c.id, c]));
    for (const c of this.contacts.values()) {
      const row = storedContacts.get(c.id);
      if (!row) lost.push(`contact ${c.id} (${c.email}) is missing`);
      else if (row.tenant_id !== c.tenant.id || row.email !== c.email) lost.push(`contact ${c.id} is ${JSON.stringify(row)}, expected ${c.email} of ${c.tenant.id}`);
    }
    for (const row of contacts) {
      if (!this.contacts.has(row.id) && !this.emailsInDoubt.has(`${row.tenant_id} ${row.email.toLowerCase()}`)) phantom.push(`contact ${row.id} (${row.email}) was never acknowledged`);
    }
    return { checkedRows: projects.length + tasks.length + contacts.length, lost, phantom };
  }
}
