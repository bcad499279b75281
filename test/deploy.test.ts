/**
 * The deployment stack (Dockerfile, docker-compose.yml, otel/, grafana/) checked without a Docker
 * engine: the compose file against the repository and the config schema, `docker-compose config`,
 * `promtool check config`, the collector pipelines, Grafana provisioning, and every dashboard query
 * run against a real Prometheus that scrapes live sidecars after real traffic.
 *
 * Tools: docker-compose (Debian `docker-compose`), prometheus and promtool (Debian `prometheus`).
 * With CI=true a missing tool fails the test instead of skipping it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { parse as parseYaml } from 'yaml';
import { envSchema } from '../src/config/schema.js';
import { type RunningPrometheus, startPrometheus, which } from './support/prometheus.js';
import { type Standin, startStandin } from './support/standin.js';
import { llamaParseReader, startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const repo = (...parts: string[]) => join(ROOT, ...parts);
const CI = process.env.CI === 'true';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown, what: string): Obj => {
  assert.ok(isObj(v), `${what} is a mapping`);
  return v;
};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const readYaml = (path: string): Obj => obj(parseYaml(readFileSync(repo(path), 'utf8')), path);

/** Outside CI a missing tool skips its test; in CI (.ci/run installs them) it fails. */
const needs = (bin: string | undefined, pkg: string): false | string =>
  bin !== undefined || CI ? false : `${pkg} not installed (apt-get install ${pkg})`;

const composeBin = process.env.DOCKER_COMPOSE_BIN ?? which('docker-compose');
const prometheusBin = process.env.PROMETHEUS_BIN ?? which('prometheus');
const promtoolBin = process.env.PROMTOOL_BIN ?? which('promtool');

// ------------------------------------------------------------------------------------------
// docker-compose.yml

interface Service {
  name: string;
  raw: Obj;
}
const compose = readYaml('docker-compose.yml');
const services: Service[] = Object.entries(obj(compose.services, 'services')).map(([name, raw]) => ({
  name,
  raw: obj(raw, `service ${name}`),
}));
const service = (name: string): Service => {
  const s = services.find((x) => x.name === name);
  assert.ok(s, `service ${name} is defined`);
  return s;
};
const SIDECARS = ['tollgate-a', 'tollgate-b'];
const WORKERS: Record<string, string> = { 'worker-a': 'tollgate-a', 'worker-b': 'tollgate-b' };

/** `environment:` as a map (compose accepts a map or a list of KEY=VALUE). Null = passed through from the shell. */
function environment(s: Service): Record<string, string | null> {
  const env = s.raw.environment;
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((e) => {
        const str = String(e);
        const eq = str.indexOf('=');
        return eq === -1 ? [str, null] : [str.slice(0, eq), str.slice(eq + 1)];
      }),
    );
  }
  if (env === undefined) return {};
  return Object.fromEntries(
    Object.entries(obj(env, `${s.name}.environment`)).map(([k, v]) => [k, v === null ? null : String(v)]),
  );
}

interface Mount {
  source: string;
  target: string;
  bind: boolean;
}
function mounts(s: Service): Mount[] {
  return arr(s.raw.volumes).map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = ''] = v.split(':');
      return { source, target, bind: source.startsWith('.') || source.startsWith('/') };
    }
    const m = obj(v, `${s.name} volume`);
    return { source: String(m.source), target: String(m.target), bind: m.type === 'bind' };
  });
}

/** Container ports a service publishes. */
function containerPorts(s: Service): number[] {
  return arr(s.raw.ports).map((p) => {
    if (typeof p === 'number') return p;
    if (typeof p === 'string') return Number(p.split(':').at(-1)?.split('/')[0]);
    return Number(obj(p, `${s.name} port`).target);
  });
}

function dependsOn(s: Service): Record<string, string> {
  const d = s.raw.depends_on;
  if (d === undefined) return {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [String(n), 'service_started']));
  return Object.fromEntries(
    Object.entries(obj(d, `${s.name}.depends_on`)).map(([k, v]) => [
      k,
      String(isObj(v) && v.condition !== undefined ? v.condition : 'service_started'),
    ]),
  );
}

const healthcheckText = (s: Service): string => {
  const hc = s.raw.healthcheck;
  if (!isObj(hc) || hc.disable === true) return '';
  return Array.isArray(hc.test) ? hc.test.map(String).join(' ') : String(hc.test ?? '');
};

const pkg = JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { version: string; scripts: Obj };

// ------------------------------------------------------------------------------------------
// Dockerfile

interface Stage {
  image: string;
  name: string | undefined;
  instructions: { op: string; args: string }[];
}
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(line);
    if (!m) continue;
    const op = (m[1] ?? '').toUpperCase();
    const rest = (m[2] ?? '').trim();
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      assert.ok(f, `FROM line: ${line}`);
      const image = (f[1] ?? '').replace(/\$\{?(\w+)\}?/g, (_s, v: string) => args[v] ?? `<unset ${v}>`);
      stages.push({ image, name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      if (op === 'ARG') {
        const a = /^(\w+)=(\S+)$/.exec(rest);
        if (a) args[a[1] ?? ''] = a[2] ?? '';
      }
    } else {
      stages.at(-1)?.instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

describe('Dockerfile', () => {
  const { stages } = parseDockerfile(readFileSync(repo('Dockerfile'), 'utf8'));
  const runtime = stages.at(-1);
  const stage = (name: string) => stages.find((s) => s.name === name);

  it('builds from pinned node:22 bookworm-slim images (a version, or a digest)', () => {
    const stageNames = new Set(stages.map((s) => s.name));
    const external = stages.filter((s) => !stageNames.has(s.image));
    assert.ok(external.length >= 2, 'a build stage and a runtime stage from a base image');
    for (const s of external) {
      assert.match(s.image, /^node:22\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/, `pinned base image ${s.image}`);
    }
    assert.ok(!stageNames.has(runtime?.image), 'the runtime stage starts from the base image, not a build stage');
  });

  it('compiles better-sqlite3 in the build stages and prunes dev dependencies after the build', () => {
    const runs = (s: Stage | undefined) =>
      (s?.instructions ?? [])
        .filter((i) => i.op === 'RUN')
        .map((i) => i.args)
        .join('\n');
    const deps = runs(stage('deps')) + runs(stage('build'));
    for (const tool of ['python3', 'make', 'g\\+\\+']) assert.match(deps, new RegExp(`apt-get install[^\\n]*${tool}`));
    assert.match(deps, /npm ci/);
    assert.match(runs(stage('build')), /npm run build[\s\S]*npm prune --omit=dev/);
    assert.match(runs(stage('build')), /test -f dist\/metering\/prices\.json/, 'the build checks the price table');
  });

  it('ships dist/, node_modules and package.json only, as a non-root user, listening on 0.0.0.0', () => {
    assert.ok(runtime);
    const copies = runtime.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
    for (const what of ['dist', 'node_modules', 'package.json']) {
      assert.ok(
        copies.some((c) => c.includes('--from=build') && c.includes(`/app/${what}`)),
        `COPY --from=build ${what}`,
      );
    }
    assert.equal(copies.length, 3, 'nothing else is copied into the runtime image');
    const user = runtime.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user} is not root`);
    const env = runtime.instructions
      .filter((i) => i.op === 'ENV')
      .map((i) => i.args)
      .join(' ');
    assert.match(env, /\bHOST=0\.0\.0\.0\b/);
  });

  it('has a HEALTHCHECK on /readyz and runs the CLI with the telemetry preload, like npm start', () => {
    assert.ok(runtime);
    const hc = runtime.instructions.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    assert.match(hc, /CMD[\s\S]*node[\s\S]*\/readyz/);
    const cmd = runtime.instructions.filter((i) => i.op === 'CMD').at(-1)?.args ?? '';
    const argv = JSON.parse(cmd) as string[];
    assert.deepEqual(argv, [
      'node',
      '--enable-source-maps',
      '--import',
      './dist/telemetry/register.js',
      'dist/cli.js',
      'serve',
    ]);
    assert.equal(argv.join(' '), pkg.scripts.start, 'the container starts the way `npm start` does');
  });

  it('has the stages docker-compose.yml builds, and .dockerignore keeps what they copy', () => {
    const names = new Set(stages.map((s) => s.name));
    for (const s of services) {
      const build = s.raw.build;
      if (isObj(build) && build.target !== undefined) assert.ok(names.has(String(build.target)), `${s.name} target`);
    }
    const ignored = readFileSync(repo('.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim().replace(/^\/|\/$/g, ''))
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const needed of ['src', 'examples', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      assert.ok(!ignored.includes(needed), `.dockerignore keeps ${needed}`);
    }
    for (const heavy of ['node_modules', 'dist', '.git', '.env.*']) assert.ok(ignored.includes(heavy), heavy);
  });

  it('tsc emits the shipped price table next to the compiled metering code', async () => {
    const out = await mkdtemp(join(tmpdir(), 'tollgate-tsc-'));
    try {
      const tsc = spawnSync(
        process.execPath,
        [repo('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', out],
        {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 110_000,
        },
      );
      assert.equal(tsc.status, 0, `tsc:\n${tsc.stdout}${tsc.stderr}`);
      assert.ok(existsSync(join(out, 'metering/prices.json')), 'dist/metering/prices.json');
      assert.ok(existsSync(join(out, 'telemetry/register.js')), 'dist/telemetry/register.js');
      assert.ok(existsSync(join(out, 'cli.js')), 'dist/cli.js');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('docker-compose.yml', () => {
  it('pins every image (no latest); the stack builds its own at the package version', () => {
    for (const s of services) {
      const image = s.raw.image;
      assert.equal(typeof image, 'string', `${s.name} names its image`);
      const ref = String(image);
      const tag = /:([^/:@]+)(@sha256:[0-9a-f]{64})?$/.exec(ref)?.[1];
      assert.ok(tag, `${s.name}: ${ref} has a tag`);
      assert.notEqual(tag, 'latest', `${s.name}: ${ref}`);
      assert.match(tag, /\d+\.\d+/, `${s.name}: ${ref} is pinned to a version`);
      if (s.raw.build !== undefined) assert.equal(tag, pkg.version, `${s.name}: local image tagged ${pkg.version}`);
    }
  });

  it('mounts only host files and folders that exist, and declares its named volumes', () => {
    const declared = new Set(Object.keys(isObj(compose.volumes) ? compose.volumes : {}));
    for (const s of services) {
      for (const m of mounts(s)) {
        if (m.bind) assert.ok(existsSync(resolve(ROOT, m.source)), `${s.name}: ${m.source} exists`);
        else assert.ok(declared.has(m.source), `${s.name}: named volume ${m.source} is declared`);
      }
    }
  });

  it('depends only on defined services, with a healthcheck behind every service_healthy', () => {
    const names = new Set(services.map((s) => s.name));
    for (const s of services) {
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        assert.ok(names.has(dep), `${s.name} depends on ${dep}, which is defined`);
        assert.ok(
          ['service_started', 'service_healthy', 'service_completed_successfully'].includes(condition),
          `${s.name}: condition ${condition}`,
        );
        if (condition === 'service_healthy') assert.ok(healthcheckText(service(dep)), `${dep} has a healthcheck`);
      }
    }
    // Every service that can be probed from inside its image is.
    const probes: Record<string, RegExp> = {
      'tollgate-a': /node .*127\.0\.0\.1:8790\/readyz/,
      'tollgate-b': /node .*127\.0\.0\.1:8790\/readyz/,
      redis: /redis-cli ping/,
      jaeger: /:13133\/status/,
      prometheus: /:9090\/-\/ready/,
      grafana: /:3000\/api\/health/,
    };
    for (const [name, probe] of Object.entries(probes)) assert.match(healthcheckText(service(name)), probe, name);
  });

  it('uses the contract ports: sidecars 8790, collector 4317/4318, Jaeger 16686, Prometheus 9090, Grafana 3000', () => {
    for (const name of SIDECARS) {
      assert.deepEqual(containerPorts(service(name)), [8790], name);
      assert.equal(environment(service(name)).PORT ?? '8790', '8790');
    }
    assert.deepEqual(
      containerPorts(service('otel-collector'))
        .filter((p) => p === 4317 || p === 4318)
        .sort(),
      [4317, 4318],
    );
    assert.ok(containerPorts(service('jaeger')).includes(16686));
    assert.ok(containerPorts(service('prometheus')).includes(9090));
    assert.ok(containerPorts(service('grafana')).includes(3000));
    // The host side of each published port is unique.
    const hostPorts = services.flatMap((s) =>
      arr(s.raw.ports).map((p) => String(p).split(':').slice(0, -1).join(':') || String(p)),
    );
    assert.equal(new Set(hostPorts).size, hostPorts.length, `host ports ${hostPorts.join(', ')}`);
  });

  it('sets only config-schema and OTEL_* variables on the sidecars, with the env file mounted as ENV_FILE', () => {
    // ENV_FILE is the loader's own variable (contract §2): which env file to read.
    const known = new Set([...Object.keys(envSchema.shape), 'ENV_FILE']);
    for (const name of SIDECARS) {
      const s = service(name);
      const env = environment(s);
      for (const key of Object.keys(env)) {
        assert.ok(known.has(key) || /^OTEL_[A-Z0-9_]+$/.test(key), `${name}: ${key} is a tollgate variable`);
      }
      assert.equal(env.OTEL_SERVICE_NAME, name);
      assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector:4318');
      assert.equal(env.HOST, '0.0.0.0');
      assert.match(env.STATE_URL ?? '', /^redis:\/\/redis:6379\/\d+$/);
      assert.equal(envSchema.shape.STATE_URL.safeParse(env.STATE_URL).success, true);
      // A folder mount, so an edit that replaces the file (sed -i, most editors) is seen.
      const envFile = mounts(s).find((m) => (env.ENV_FILE ?? '').startsWith(`${m.target.replace(/\/$/, '')}/`));
      assert.ok(envFile, `${name}: ENV_FILE ${env.ENV_FILE} is in a mounted folder`);
      const inFolder = (env.ENV_FILE ?? '').slice(envFile.target.replace(/\/$/, '').length + 1);
      assert.equal(resolve(ROOT, envFile.source, inFolder), repo('.env.development'));
      assert.ok(statSync(resolve(ROOT, envFile.source)).isDirectory(), `${name}: the env file's folder is mounted`);
      // env_file would put the file's values in the process environment, which wins over the
      // env file, and editing .env.development would no longer switch modes live.
      assert.equal(s.raw.env_file, undefined, `${name}: no env_file`);
      assert.equal(dependsOn(s).redis, 'service_healthy');
    }
  });

  it('runs each worker in its sidecar’s network namespace over the document fixtures', () => {
    for (const [worker, sidecar] of Object.entries(WORKERS)) {
      const w = service(worker);
      assert.equal(w.raw.network_mode, `service:${sidecar}`);
      assert.equal(w.raw.ports, undefined, `${worker} publishes no ports (it has its sidecar's network)`);
      assert.equal(dependsOn(w)[sidecar], 'service_healthy');
      const cmd = arr(w.raw.command).map(String).join(' ');
      assert.match(cmd, /^npm run worker -- \/data\/documents/);
      const docs = mounts(w).find((m) => m.target === '/data/documents');
      assert.ok(docs, `${worker} mounts /data/documents`);
      assert.equal(resolve(ROOT, docs.source), repo('test/fixtures/documents'));
      assert.ok(
        arr(w.raw.volumes).some((v) => String(v).endsWith(':/data/documents:ro')),
        'documents mounted read-only',
      );
      const env = environment(w);
      assert.equal(env.OPENAI_BASE_URL, 'http://127.0.0.1:8790/openai/v1');
      assert.equal(env.LLAMA_CLOUD_BASE_URL, 'http://127.0.0.1:8790/llamaparse');
      // Traced: its spans reach the collector its sidecar exports to, so a document is one trace.
      assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, environment(service(sidecar)).OTEL_EXPORTER_OTLP_ENDPOINT);
      assert.match(env.OTEL_SERVICE_NAME ?? '', /^document-worker-/);
    }
  });

  it('is accepted by `docker-compose config`', { skip: needs(composeBin, 'docker-compose') }, () => {
    assert.ok(composeBin, 'docker-compose not found (CI=true): apt-get install docker-compose');
    const r = spawnSync(composeBin, ['-f', 'docker-compose.yml', 'config', '-q'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `docker-compose config:\n${r.stdout}${r.stderr}`);
  });
});

// ------------------------------------------------------------------------------------------
// otel/ and grafana/

describe('otel/prometheus.yml and otel/collector.yaml', () => {
  it('passes `promtool check config` and scrapes both sidecars and the collector', {
    skip: needs(promtoolBin, 'prometheus'),
  }, () => {
    assert.ok(promtoolBin, 'promtool not found (CI=true): apt-get install prometheus');
    const r = spawnSync(promtoolBin, ['check', 'config', 'otel/prometheus.yml'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, `promtool check config:\n${r.stdout}${r.stderr}`);
    const prom = readYaml('otel/prometheus.yml');
    const targets = arr(prom.scrape_configs).flatMap((sc) =>
      arr(obj(sc, 'scrape_config').static_configs).flatMap((st) => arr(obj(st, 'static_config').targets).map(String)),
    );
    for (const t of ['tollgate-a:8790', 'tollgate-b:8790', 'otel-collector:8889', 'otel-collector:8888']) {
      assert.ok(targets.includes(t), `scrapes ${t}`);
    }
    const tollgate = arr(prom.scrape_configs)
      .map((sc) => obj(sc, 'scrape_config'))
      .find((sc) => sc.job_name === 'tollgate');
    assert.equal(tollgate?.metrics_path ?? '/metrics', '/metrics');
    for (const host of targets.map((t) => t.split(':')[0] ?? '')) {
      if (host !== '127.0.0.1' && host !== 'localhost') service(host);
    }
  });

  it('wires every collector pipeline to defined receivers, processors, exporters and connectors', () => {
    const col = readYaml('otel/collector.yaml');
    const section = (k: string) => new Set(Object.keys(isObj(col[k]) ? col[k] : {}));
    const receivers = section('receivers');
    const processors = section('processors');
    const exporters = section('exporters');
    const connectors = section('connectors');
    const extensions = section('extensions');
    const svc = obj(col.service, 'service');
    for (const e of arr(svc.extensions)) assert.ok(extensions.has(String(e)), `extension ${e}`);
    assert.ok(arr(svc.extensions).includes('health_check'));
    const pipelines = obj(svc.pipelines, 'pipelines');
    const usedAsExporter = new Set<string>();
    const usedAsReceiver = new Set<string>();
    for (const [name, raw] of Object.entries(pipelines)) {
      const p = obj(raw, name);
      assert.ok(arr(p.receivers).length > 0 && arr(p.exporters).length > 0, `${name} has receivers and exporters`);
      for (const r of arr(p.receivers).map(String)) {
        assert.ok(receivers.has(r) || connectors.has(r), `${name}: receiver ${r}`);
        usedAsReceiver.add(r);
      }
      for (const x of arr(p.processors).map(String)) assert.ok(processors.has(x), `${name}: processor ${x}`);
      for (const x of arr(p.exporters).map(String)) {
        assert.ok(exporters.has(x) || connectors.has(x), `${name}: exporter ${x}`);
        usedAsExporter.add(x);
      }
      assert.ok(arr(p.processors).includes('batch'), `${name} batches`);
    }
    for (const c of connectors) assert.ok(usedAsExporter.has(c) && usedAsReceiver.has(c), `connector ${c} is wired`);
    const traces = obj(pipelines.traces, 'traces pipeline');
    assert.ok(arr(traces.receivers).includes('otlp'));
    const jaeger = arr(traces.exporters)
      .map(String)
      .find((x) => x.startsWith('otlp/') || x === 'otlp');
    assert.ok(jaeger, 'traces go out over OTLP');
    assert.equal(obj(obj(col.exporters, 'exporters')[jaeger], jaeger).endpoint, 'jaeger:4317');
    const protocols = obj(obj(obj(col.receivers, 'receivers').otlp, 'otlp').protocols, 'protocols');
    assert.equal(obj(protocols.grpc, 'grpc').endpoint, '0.0.0.0:4317');
    assert.equal(obj(protocols.http, 'http').endpoint, '0.0.0.0:4318');
    assert.equal(obj(obj(col.exporters, 'exporters').prometheus, 'prometheus exporter').endpoint, '0.0.0.0:8889');
    assert.equal(obj(obj(col.extensions, 'extensions').health_check, 'health_check').endpoint, '0.0.0.0:13133');
    // The cost dashboard's exemplar panel reads the span metrics by model, with trace-id exemplars.
    const spanmetrics = obj(obj(col.connectors, 'connectors').spanmetrics, 'spanmetrics');
    assert.ok(arr(spanmetrics.dimensions).some((d) => obj(d, 'dimension').name === 'gen_ai.request.model'));
    assert.equal(obj(spanmetrics.exemplars, 'exemplars').enabled, true);
    const mount = mounts(service('otel-collector')).find((m) => m.source === './otel/collector.yaml');
    assert.ok(mount);
    assert.ok(arr(service('otel-collector').raw.command).map(String).includes(`--config=${mount.target}`));
  });
});

const DASHBOARDS = ['tollgate-cost.json', 'tollgate-operations.json'];
interface Query {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}
function dashboardQueries(): { queries: Query[]; variables: { dashboard: string; query: string }[] } {
  const queries: Query[] = [];
  const variables: { dashboard: string; query: string }[] = [];
  for (const file of DASHBOARDS) {
    const d = obj(JSON.parse(readFileSync(repo('grafana/dashboards', file), 'utf8')), file);
    const walk = (panels: unknown[]) => {
      for (const raw of panels) {
        const p = obj(raw, `${file} panel`);
        for (const t of arr(p.targets)) {
          const target = obj(t, `${file} target`);
          if (typeof target.expr === 'string') {
            queries.push({ dashboard: file, panel: String(p.title), refId: String(target.refId), expr: target.expr });
          }
        }
        walk(arr(p.panels));
      }
    };
    walk(arr(d.panels));
    for (const v of arr(isObj(d.templating) ? d.templating.list : [])) {
      const variable = obj(v, 'variable');
      const q = isObj(variable.query) ? variable.query.query : variable.query;
      if (variable.type === 'query' && typeof q === 'string') variables.push({ dashboard: file, query: q });
    }
  }
  return { queries, variables };
}

describe('Grafana provisioning and dashboards', () => {
  it('provisions Prometheus and Jaeger linked both ways, escaping Grafana macros from env expansion', () => {
    const text = readFileSync(repo('grafana/provisioning/datasources/datasources.yaml'), 'utf8');
    // Grafana expands $VAR in provisioning files: its own $__macros must be written $$__macros.
    assert.doesNotMatch(text.replace(/\$\$/g, ''), /\$__/, 'unescaped $__ macro');
    const ds = arr(readYaml('grafana/provisioning/datasources/datasources.yaml').datasources).map((d) =>
      obj(d, 'datasource'),
    );
    const byUid = new Map(ds.map((d) => [String(d.uid), d]));
    assert.equal(byUid.size, ds.length, 'unique uids');
    const prom = ds.find((d) => d.type === 'prometheus');
    const jaeger = ds.find((d) => d.type === 'jaeger');
    assert.ok(prom && jaeger);
    assert.equal(prom.url, 'http://prometheus:9090');
    assert.equal(jaeger.url, 'http://jaeger:16686');
    const exemplars = arr(obj(prom.jsonData, 'prometheus jsonData').exemplarTraceIdDestinations).map((e) =>
      obj(e, 'exemplar destination'),
    );
    assert.ok(
      exemplars.some((e) => e.datasourceUid === jaeger.uid && e.name === 'trace_id'),
      'exemplars -> Jaeger',
    );
    const t2m = obj(obj(jaeger.jsonData, 'jaeger jsonData').tracesToMetrics, 'tracesToMetrics');
    assert.equal(t2m.datasourceUid, prom.uid, 'Jaeger trace-to-metrics -> Prometheus');
    assert.ok(arr(t2m.queries).length > 0);
  });

  it('loads the dashboard folder that docker-compose mounts, and every dashboard in it parses', () => {
    const providers = arr(readYaml('grafana/provisioning/dashboards/dashboards.yaml').providers).map((p) =>
      obj(p, 'provider'),
    );
    assert.equal(providers.length, 1);
    const path = String(obj(providers[0]?.options, 'provider options').path);
    const grafanaMounts = mounts(service('grafana'));
    const dashMount = grafanaMounts.find((m) => m.target === path);
    assert.ok(dashMount, `the provider path ${path} is mounted into grafana`);
    assert.equal(resolve(ROOT, dashMount.source), repo('grafana/dashboards'));
    const prov = grafanaMounts.find((m) => m.target === '/etc/grafana/provisioning');
    assert.ok(prov && resolve(ROOT, prov.source) === repo('grafana/provisioning'), 'provisioning mounted');
    const files = readdirSync(repo('grafana/dashboards')).filter((f) => f.endsWith('.json'));
    assert.deepEqual(files.sort(), [...DASHBOARDS].sort());
    const uids = new Set<string>();
    const dsUids = new Set(
      arr(readYaml('grafana/provisioning/datasources/datasources.yaml').datasources).map((d) =>
        String(obj(d, 'datasource').uid),
      ),
    );
    for (const f of files) {
      assert.ok(statSync(repo('grafana/dashboards', f)).size > 0);
      const d = obj(JSON.parse(readFileSync(repo('grafana/dashboards', f), 'utf8')), f);
      assert.equal(typeof d.uid, 'string');
      uids.add(String(d.uid));
      const walk = (panels: unknown[]) => {
        for (const raw of panels) {
          const p = obj(raw, 'panel');
          if (isObj(p.datasource)) assert.ok(dsUids.has(String(p.datasource.uid)), `${f}: ${p.title} datasource`);
          walk(arr(p.panels));
        }
      };
      walk(arr(d.panels));
    }
    assert.equal(uids.size, files.length, 'unique dashboard uids');
    const { queries } = dashboardQueries();
    assert.ok(queries.length >= 30, `${queries.length} queries`);
  });
});

// ------------------------------------------------------------------------------------------
// Every dashboard query against a real Prometheus scraping live sidecars.

/** Grafana's macros and the dashboards' variables, as Grafana would fill them in. */
function substitute(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__range|\$\{__range\}/g, '1h')
    .replace(/\$__interval|\$\{__interval\}/g, '15s')
    .replace(/\$service|\$\{service(?::\w+)?\}/g, '.*');
}

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}
interface PromTargets {
  data: { activeTargets: { health: string; lastScrape: string; lastError: string; scrapeUrl: string }[] };
}

const KEY = 'sk-test-deploy-0123456789';
const fixture = (name: string) => repo('test/fixtures', name);

describe('every dashboard query returns data from a real Prometheus scraping live sidecars', {
  skip: needs(prometheusBin, 'prometheus'),
}, () => {
  let standin: Standin;
  /**
   * hybrid: OpenAI real (the stand-in), LlamaParse without a key -> `no_api_key` fallbacks; the response
   * cache on (a repeated chat is a hit) and the mode header allowed (a chat recorded, then replayed).
   */
  let hybrid: TestTollgate;
  let cassettes = '';
  /** mock: the full mix, shadow cost, an unpriced model. */
  let mock: TestTollgate;
  /** mock with a one-request bucket: rate-limit rejections. */
  let limited: TestTollgate;
  let prom: RunningPrometheus | undefined;
  let promUrl = '';
  const budgets = {
    BUDGET_HOURLY_USD: '5',
    BUDGET_DAILY_USD: '20',
    BUDGET_MONTHLY_USD: '300',
    OPENAI_BUDGET_DAILY_USD: '10',
    OPENAI_REQUESTS_PER_HOUR: '10000',
    OPENAI_TOKENS_PER_HOUR: '10000000',
    LLAMAPARSE_PAGES_PER_HOUR: '10000',
  };

  before(async () => {
    assert.ok(prometheusBin, 'prometheus not found (CI=true): apt-get install prometheus');
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
    cassettes = await mkdtemp(join(tmpdir(), 'tollgate-deploy-cassettes-'));
    hybrid = await startTestTollgate({
      ...budgets,
      SERVICE_MODE: 'hybrid',
      RESPONSE_CACHE_TTL_S: '3600',
      ALLOW_MODE_HEADER: 'true',
      CASSETTE_DIR: cassettes,
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      MOCK_SEED: '3',
    });
    mock = await startTestTollgate({ ...budgets, SERVICE_MODE: 'mock', MOCK_SEED: '5' });
    limited = await startTestTollgate({
      SERVICE_MODE: 'mock',
      OPENAI_REQUESTS_PER_HOUR: '1',
      OPENAI_REQUESTS_BURST: '1',
    });
    prom = await startPrometheus(
      [
        { target: new URL(hybrid.url).host, labels: { service_name: 'tollgate-a' } },
        { target: new URL(mock.url).host, labels: { service_name: 'tollgate-b' } },
        { target: new URL(limited.url).host, labels: { service_name: 'tollgate-c' } },
      ],
      prometheusBin,
    );
    promUrl = prom.url;
  });

  after(async () => {
    await prom?.stop();
    await hybrid?.close();
    await mock?.close();
    await limited?.close();
    await standin?.close();
    if (cassettes !== '') await rm(cassettes, { recursive: true, force: true });
  });

  const openai = (tg: TestTollgate) =>
    new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'sk-placeholder', maxRetries: 0 });

  /** One round of the traffic a worker sends: chat, a stream, embeddings, a parsed document. */
  async function workerTraffic(tg: TestTollgate, extraModels: string[] = []): Promise<void> {
    const client = openai(tg);
    for (const model of ['gpt-4o-mini', ...extraModels]) {
      await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'What does a sidecar do?' }],
        max_tokens: 64,
      });
    }
    let streamed = '';
    for await (const chunk of await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream a short answer' }],
      stream: true,
      max_tokens: 64,
    })) {
      streamed += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.ok(streamed.length > 0, 'streamed content');
    await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two', 'three'] });
    const reader = llamaParseReader(`${tg.url}/llamaparse`);
    const docs = await reader.loadData(fixture('documents/sample-report.pdf'));
    assert.ok(docs.length > 0, 'parsed document');
  }

  /** A chat recorded through the stand-in, then the same chat replayed from its recording (the replay panels). */
  async function recordingTraffic(tg: TestTollgate): Promise<void> {
    const client = openai(tg);
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'Record this answer' }],
      max_tokens: 32,
    };
    await client.chat.completions.create(body, { headers: { 'x-tollgate-mode': 'record' } });
    const replayed = await client.chat.completions
      .create(body, { headers: { 'x-tollgate-mode': 'replay' } })
      .withResponse();
    assert.equal(replayed.response.headers.get('x-tollgate-served-by'), 'replay');
  }

  async function limitedTraffic(): Promise<number> {
    const client = openai(limited);
    let refused = 0;
    for (let i = 0; i < 3; i++) {
      try {
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      } catch (err) {
        assert.ok(err instanceof OpenAI.APIError && err.status === 429, `refused with 429: ${String(err)}`);
        refused += 1;
      }
    }
    return refused;
  }

  async function round(): Promise<void> {
    await workerTraffic(hybrid);
    await recordingTraffic(hybrid);
    await workerTraffic(mock, ['gpt-4o', 'tollgate-unpriced-model']);
    assert.ok((await limitedTraffic()) >= 2, 'the one-request bucket refuses');
  }

  /** Waits until every target was scraped successfully at least `scrapes` times after `since`. */
  async function scrapedAfter(since: number, scrapes: number): Promise<void> {
    let last: PromTargets['data']['activeTargets'] = [];
    await until(
      async () => {
        last = ((await (await fetch(`${promUrl}/api/v1/targets?state=active`)).json()) as PromTargets).data
          .activeTargets;
        return (
          last.length === 3 &&
          last.every((t) => t.health === 'up' && Date.parse(t.lastScrape) > since + (scrapes - 1) * 1000)
        );
      },
      20_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; targets: ${JSON.stringify(last)}`);
    });
  }

  const query = async (expr: string): Promise<PromSample[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
    assert.equal(res.status, 200, `${expr}: ${body.error ?? ''}`);
    assert.equal(body.status, 'success');
    return body.data?.result ?? [];
  };

  it('after two rounds of worker traffic, each query has at least one finite sample', async () => {
    // Two rounds with scrapes in between: counters and histograms only show a rate once a
    // series has grown between two scrapes (a series first seen at its final value rates 0).
    await round();
    await scrapedAfter(Date.now(), 2);
    await round();
    assert.ok(
      hybrid.calls.some((c) => c.servedBy === 'real' && (c.costUsd ?? 0) > 0),
      'real spend through the stand-in',
    );
    assert.ok(
      hybrid.calls.some((c) => c.fallbackReason === 'no_api_key'),
      'no_api_key fallbacks',
    );
    assert.ok(
      mock.calls.some((c) => c.unpriced),
      'an unpriced model',
    );
    assert.ok(
      hybrid.calls.some((c) => c.servedBy === 'cache'),
      'a chat the response cache answered',
    );
    await scrapedAfter(Date.now(), 2);

    const { queries, variables } = dashboardQueries();
    const empty: string[] = [];
    for (const q of queries) {
      // Span metrics come from the collector (spanmetrics connector), which this test does not run.
      if (q.expr.includes('traces_span_metrics')) continue;
      const expr = substitute(q.expr);
      assert.doesNotMatch(expr, /\$/, `${q.dashboard} / ${q.panel}: unsubstituted variable in ${expr}`);
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
      const samples = body.data?.result ?? [];
      if (body.status !== 'success') {
        empty.push(`${q.dashboard} / ${q.panel} [${q.refId}]: ${expr} -> ${body.error}`);
      } else if (!samples.some((s) => Number.isFinite(Number(s.value[1])))) {
        empty.push(`${q.dashboard} / ${q.panel} [${q.refId}]: ${expr} -> ${JSON.stringify(samples)}`);
      }
    }
    assert.deepEqual(empty, [], `queries without data:\n${empty.join('\n')}`);

    for (const v of variables) {
      const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(v.query);
      assert.ok(m, `${v.dashboard}: variable query ${v.query}`);
      const res = await fetch(`${promUrl}/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(m[1] ?? '')}`);
      const values = ((await res.json()) as { data: string[] }).data;
      assert.deepEqual(values.sort(), ['tollgate-a', 'tollgate-b', 'tollgate-c'], v.query);
    }

    // The trace-to-metrics queries of the Jaeger datasource, with a span's tags filled in.
    const ds = arr(readYaml('grafana/provisioning/datasources/datasources.yaml').datasources).map((d) =>
      obj(d, 'datasource'),
    );
    const jaeger = ds.find((d) => d.type === 'jaeger');
    const t2m = obj(obj(jaeger?.jsonData, 'jaeger jsonData').tracesToMetrics, 'tracesToMetrics');
    for (const q of arr(t2m.queries)) {
      const expr = String(obj(q, 'query').query).replace(
        /\$\$__tags/g,
        'service_name="tollgate-b",gen_ai_request_model="gpt-4o-mini"',
      );
      const samples = await query(expr);
      assert.ok(
        samples.some((s) => Number.isFinite(Number(s.value[1]))),
        `trace-to-metrics ${expr} -> ${JSON.stringify(samples)}`,
      );
    }
  });
});
