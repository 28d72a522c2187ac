/**
 * Error codes of the whole product. Every code is `ERR_<AREA>_<WHAT>`, carries the HTTP
 * status a gateway answers with, and is documented in docs/errors.md (a test checks that).
 */
export const ErrorCodes = {
  ERR_SUBJECT_TOKEN: {
    status: 400,
    summary: "A subject token is empty, too long, or contains '.', '*', '>' or whitespace.",
  },
  ERR_SUBJECT_PATH: { status: 400, summary: "A path token does not decode to a valid path." },
  ERR_EVENT_INVALID: {
    status: 400,
    summary: "An event does not match the envelope or its data schema.",
  },
  ERR_EVENT_UNKNOWN_TYPE: {
    status: 400,
    summary: "An event type (or version) is not known to this build.",
  },
  ERR_COMMAND_INVALID: {
    status: 400,
    summary: "A command is not valid JSON or does not match its schema.",
  },
  ERR_COMMAND_UNKNOWN: {
    status: 400,
    summary: "A command type is not handled by the service it was sent to.",
  },
  ERR_COMMAND_REJECTED: {
    status: 409,
    summary: "A command is valid but not allowed in the current state.",
  },
  ERR_COMMAND_CONFLICT: {
    status: 409,
    summary: "Concurrent writers kept changing the state; the command was not applied.",
  },
  ERR_COMMAND_TIMEOUT: { status: 504, summary: "The service did not answer the command in time." },
  ERR_SETTINGS_INVALID: {
    status: 400,
    summary: "A workspace setting has a bad value (title, colour, shell, agent defaults).",
  },
  ERR_GATEWAY_HOST: {
    status: 403,
    summary: "The Host header is not one this server answers to (DNS rebinding protection).",
  },
  ERR_GATEWAY_ORIGIN: {
    status: 403,
    summary: "The Origin of a WebSocket or state-changing request is not this server.",
  },
  ERR_GATEWAY_AUTH: {
    status: 401,
    summary:
      "Not signed in, signed out, or the link expired: open the URL with ?token= that cocalc-plus printed.",
  },
  ERR_GATEWAY_TOKEN: { status: 401, summary: "The ?token= in the URL is wrong." },
  ERR_GATEWAY_UPSTREAM: { status: 502, summary: "The gateway could not reach nats-server." },
  ERR_GATEWAY_NOT_FOUND: { status: 404, summary: "No such route." },
  ERR_GATEWAY_LINK: {
    status: 400,
    summary: "A signed link was asked for a URL that is not a download or a remote session.",
  },
  ERR_PROXY_PORT: {
    status: 400,
    summary: "A proxied app's path does not name a port (1-65535), or names the gateway's own.",
  },
  ERR_PROXY_AUTH: {
    status: 401,
    summary:
      "A proxied app was asked for without its cookie or token, or after signing out: open it from plus (Apps) or with a link made there.",
  },
  ERR_PROXY_TOKEN: {
    status: 401,
    summary:
      "A proxied app's token is expired, for another port or workspace, forged, or from a browser that signed out.",
  },
  ERR_PROXY_SITE: {
    status: 403,
    summary:
      "A proxied app was asked for by a page of another site or port (Sec-Fetch-Site, Origin): only plus's own pages, typed URLs or tokens open it.",
  },
  ERR_PROXY_OFF: {
    status: 404,
    summary:
      "This hub serves no workspace apps: it was started on a public address without --apps-domain (a wildcard DNS name for its apps' own origins).",
  },
  ERR_PROXY_UPSTREAM: {
    status: 502,
    summary:
      "Nothing answers on the proxied app's port of this machine (launchpad: inside the workspace's container).",
  },
  ERR_TOKEN_FILE: {
    status: 409,
    summary: "This cocalc-plus reads its token from --token-file: change the file and restart.",
  },
  ERR_HUB_TLS: {
    status: 500,
    summary:
      "The hub's certificate: --cert/--key unreadable or not PEM, openssl could not make one, or the hub's nats-server presented another certificate than the one its run file pins to a console command.",
  },
  ERR_HUB_SETUP: {
    status: 409,
    summary: "The hub's setup link is wrong or was used: the hub has its first admin.",
  },
  ERR_HUB_SIGN_UP_CLOSED: {
    status: 403,
    summary: "Sign-up is closed on this hub (or it is not set up yet).",
  },
  ERR_HUB_INVITE: {
    status: 403,
    summary: "The invite is missing, wrong, expired, revoked or used up.",
  },
  ERR_HUB_RESET: {
    status: 403,
    summary:
      "The password reset link is wrong, expired, used already or replaced by a newer one: nothing was changed.",
  },
  ERR_HUB_EMAIL_TAKEN: { status: 409, summary: "An account with this email exists." },
  ERR_HUB_EMAIL_INVALID: { status: 400, summary: "That is not an email address." },
  ERR_HUB_PASSWORD_WEAK: {
    status: 400,
    summary: "The password is too short (at least 10 characters).",
  },
  ERR_HUB_SIGN_IN: { status: 401, summary: "Wrong email or password." },
  ERR_HUB_RATE_LIMITED: {
    status: 429,
    summary:
      "Too many wrong passwords (sign-ins, password changes) for this account or address: wait the seconds it says.",
  },
  ERR_HUB_FORBIDDEN: {
    status: 403,
    summary: "Only an admin (or the workspace's owner or member) may do that.",
  },
  ERR_HUB_SEALED: {
    status: 500,
    summary:
      "A secret the hub keeps sealed (an agent's API key) does not open with the hub's key: the key file was replaced or the record was changed.",
  },
  ERR_HUB_AGENT_KEYS: {
    status: 400,
    summary:
      "Agents' API keys: a bad name or value, more than 32 keys, or a key request without its workspace or account.",
  },
  ERR_HUB_SSH_KEY: {
    status: 400,
    summary:
      "An SSH public key is not one (OpenSSH one-line form: ssh-ed25519, ecdsa-sha2-*, ssh-rsa), its name is bad or taken, the key is already on an account, or the account has too many.",
  },
  ERR_PIPE_PEER_GONE: {
    status: 503,
    summary:
      "The other end of a byte pipe over NATS (an SSH session, a proxied port) was not heard for a while: its host or the hub went away.",
  },
  ERR_PIPE_ABORTED: {
    status: 499,
    summary: "The other end of a byte pipe over NATS aborted it; the message says why.",
  },
  ERR_PIPE_BROKEN: {
    status: 502,
    summary:
      "A byte pipe over NATS lost a message or got one it may not (out of order, over its credit): it is ended rather than passing on wrong bytes.",
  },
  ERR_HUB_PASSWORD_WRONG: {
    status: 403,
    summary: "The current password given to change it is not the account's.",
  },
  ERR_HUB_LIMIT: {
    status: 409,
    summary: "Beyond the account's limits (workspaces, disk, cpus or memory per workspace).",
  },
  ERR_HUB_ACCOUNT_DISABLED: { status: 403, summary: "The account is disabled by an admin." },
  ERR_HUB_ACCOUNT_NOT_FOUND: { status: 404, summary: "No such account (never made, or deleted)." },
  ERR_HUB_SESSION_NOT_FOUND: {
    status: 404,
    summary:
      "No such signed-in browser of this account (signed out already, or another account's).",
  },
  ERR_HUB_LAST_OWNER: {
    status: 409,
    summary: "A workspace keeps at least one owner: make another owner first.",
  },
  ERR_HUB_MEMBER_EXISTS: {
    status: 409,
    summary: "That account is a member of the workspace already.",
  },
  ERR_HUB_MEMBER_NOT_FOUND: {
    status: 404,
    summary: "That account is not a member of the workspace.",
  },
  ERR_CLI_USAGE: { status: 400, summary: "Unknown flag or bad flag value (exit code 2)." },
  ERR_DATA_DIR_LOCKED: {
    status: 409,
    summary: "Another cocalc-plus is running on the same data directory.",
  },
  ERR_NATS_SERVER_MISSING: {
    status: 500,
    summary: "No nats-server binary was found (--nats-server, COCALC_NATS_SERVER or PATH).",
  },
  ERR_NATS_SERVER_START: {
    status: 500,
    summary: "nats-server did not start or did not become ready.",
  },
  ERR_DISK_FULL: {
    status: 507,
    summary:
      "The file system of the data directory is (nearly) full: nothing new is stored until space is freed.",
  },
  ERR_WORKSPACE_NOT_FOUND: {
    status: 404,
    summary: "No such workspace on this host (never created, or deleted).",
  },
  ERR_WORKSPACE_EXISTS: { status: 409, summary: "A workspace with this id already exists." },
  ERR_WORKSPACE_STATE: {
    status: 409,
    summary: "Not allowed in the workspace's current state (e.g. delete while running).",
  },
  ERR_WORKSPACE_SNAPSHOT: {
    status: 409,
    summary: "No snapshot of that name, or one already exists.",
  },
  ERR_WORKSPACE_EXITED: {
    status: 409,
    summary:
      "The workspace's container ended while it ran (init killed or failed, out of memory, its monitor gone); it is stopped.",
  },
  ERR_WORKSPACE_CWD: {
    status: 404,
    summary: "The folder to run the command in does not exist in the workspace.",
  },
  ERR_WORKSPACE_EXEC: {
    status: 404,
    summary:
      "An exec session of the workspace does not exist (it ended, or its client was not heard for a while).",
  },
  ERR_WORKSPACE_INVALID: {
    status: 400,
    summary: "A bad workspace, snapshot or image name, or a bad quota.",
  },
  ERR_HOST_UNSUPPORTED: {
    status: 501,
    summary: "This machine cannot run launchpad workspaces (no btrfs, loop device or podman).",
  },
  ERR_HOST_BTRFS: {
    status: 500,
    summary: "A btrfs operation (subvolume, quota, snapshot) failed.",
  },
  ERR_HOST_MOUNT: { status: 500, summary: "Mounting or unmounting a rootfs overlay failed." },
  ERR_HOST_CONTAINER: {
    status: 500,
    summary: "podman could not start, check or stop a workspace container.",
  },
  ERR_HOST_IMAGE: { status: 404, summary: "No such rootfs image, or it could not be imported." },
  ERR_HOST_EXEC: { status: 500, summary: "A command could not be run in the workspace." },
  ERR_FS_REQUEST: {
    status: 400,
    summary: "An fs request is not valid JSON, names an unknown op or does not match its schema.",
  },
  ERR_FS_PATH: {
    status: 400,
    summary: "A path is empty, contains a NUL byte, is longer than 4096 bytes or is not absolute.",
  },
  ERR_FS_NAME: {
    status: 400,
    summary:
      "A file name is empty, '.', '..', contains '/' or NUL, or is longer than 255 bytes; a new name also holds no control character (newline, tab, DEL…) and is not only dots.",
  },
  ERR_FS_OUTSIDE_SANDBOX: {
    status: 403,
    summary:
      "The path leads outside the sandbox ('..', an encoded '..', or a symlink that escapes).",
  },
  ERR_FS_NOT_FOUND: { status: 404, summary: "No such file or directory." },
  ERR_FS_PERMISSION: {
    status: 403,
    summary: "The operating system refused access (EACCES, EPERM): check the file's permissions.",
  },
  ERR_FS_EXISTS: { status: 409, summary: "Something with that name already exists." },
  ERR_FS_NOT_DIR: { status: 409, summary: "A directory was expected, but this is a file." },
  ERR_FS_IS_DIR: { status: 409, summary: "A file was expected, but this is a directory." },
  ERR_FS_NOT_EMPTY: { status: 409, summary: "The directory is not empty." },
  ERR_FS_INVALID_MOVE: {
    status: 400,
    summary: "A directory cannot be moved or copied into itself.",
  },
  ERR_FS_SYMLINK_LOOP: { status: 400, summary: "Too many levels of symbolic links (a loop)." },
  ERR_FS_NO_SPACE: {
    status: 507,
    summary: "The disk (or the quota) is full: nothing was written; free some space.",
  },
  ERR_FS_READ_ONLY: { status: 403, summary: "The file system is mounted read-only." },
  ERR_FS_TOO_LARGE: {
    status: 413,
    summary: "Too big for this request: download or upload the file over HTTP instead.",
  },
  ERR_FS_CURSOR: {
    status: 410,
    summary: "The listing this page belonged to has expired; list the directory again.",
  },
  ERR_FS_WATCH: {
    status: 503,
    summary:
      "A directory could not be watched (too many watches); it is listed without live updates.",
  },
  ERR_FS_RANGE: { status: 416, summary: "The requested byte range is not inside the file." },
  ERR_FS_UPLOAD_INCOMPLETE: {
    status: 400,
    summary: "The upload ended before all its bytes arrived (cancelled or cut); nothing was kept.",
  },
  ERR_FS_TRANSFER: {
    status: 409,
    summary:
      "No such upload or download in progress (it ended, was cancelled, or waited too long), or its chunks came out of order; nothing was kept.",
  },
  ERR_FS_NOT_FILE: {
    status: 409,
    summary: "Not a regular file (a pipe, socket or device): it cannot be read or downloaded.",
  },
  ERR_FS_IO: { status: 500, summary: "The file system reported an error (EIO and the like)." },
  ERR_SEARCH_UNAVAILABLE: {
    status: 503,
    summary:
      "ripgrep (rg) is not installed where the files are: search in files and quick open need it.",
  },
  ERR_SEARCH_PATTERN: {
    status: 400,
    summary:
      "The search pattern or a glob is not valid (ripgrep's or JavaScript's message says why).",
  },
  ERR_SEARCH_GONE: {
    status: 410,
    summary: "The search has ended or expired (not asked for more for a minute): search again.",
  },
  ERR_SEARCH_CHANGED: {
    status: 409,
    summary:
      "The file changed since the replace was previewed (its matches differ): nothing was written.",
  },
  ERR_TERM_NOT_FOUND: {
    status: 404,
    summary: "No such terminal (never opened, or closed).",
  },
  ERR_TERM_INVALID: {
    status: 400,
    summary: "A bad terminal request: id, path, directory, size or input.",
  },
  ERR_TERM_HOST: {
    status: 503,
    summary: "The terminals' pty host could not be started or reached.",
  },
  ERR_KERNEL_NOT_FOUND: {
    status: 404,
    summary: "No such kernel: the notebook's kernel was never started, or was shut down.",
  },
  ERR_KERNEL_NOT_RUNNING: {
    status: 409,
    summary: "The kernel is dead or restarting: restart it (or wait) before running cells.",
  },
  ERR_KERNEL_INVALID: {
    status: 400,
    summary: "A bad kernel request: kernel id and path, execution id, cell id, code or input.",
  },
  ERR_KERNEL_SPEC: {
    status: 404,
    summary: "No kernelspec of that name on the machine (see `jupyter kernelspec list`).",
  },
  ERR_KERNEL_TIMEOUT: {
    status: 504,
    summary: "The kernel did not answer in time (it is busy running a cell, or hung).",
  },
  ERR_SYNC_IGNORE: {
    status: 400,
    summary: "An ignore pattern does not parse (the message names the pattern and line).",
  },
  ERR_SYNC_PATH: {
    status: 400,
    summary:
      "A sync root is empty, has '..', is the home itself, or is outside home without opt-in.",
  },
  ERR_SYNC_NESTED: {
    status: 409,
    summary: "A sync pair would contain, or be inside, another pair (or the same folder twice).",
  },
  ERR_SYNC_NOT_FOUND: { status: 404, summary: "No such sync pair." },
  ERR_SYNC_NO_SESSION: {
    status: 404,
    summary:
      "No remote session with that target (or it is being removed): connect it first (cocalc-plus ssh TARGET), then add the pair.",
  },
  ERR_SYNC_RSYNC_MISSING: {
    status: 500,
    summary:
      "rsync is not installed on this machine or on the remote; install it (apt-get install rsync).",
  },
  ERR_SYNC_REMOTE: {
    status: 502,
    summary:
      "The remote could not be reached over ssh, or the remote side of sync failed (no Node, no bundle).",
  },
  ERR_SYNC_TRANSFER: {
    status: 500,
    summary: "rsync failed while moving files; the next cycle retries.",
  },
  ERR_FS_WORKER: {
    status: 503,
    summary:
      "The process that does a container workspace's file operations (as its user) could not start.",
  },
  ERR_ACCOUNT_CORES_QUOTA: {
    status: 409,
    summary:
      "Starting the workspace (or raising its cpus) would take the account's running cores above its quota.",
  },
  ERR_ACCOUNT_INVALID: { status: 400, summary: "A bad account id or cores quota." },
  ERR_HOST_JOIN: {
    status: 403,
    summary:
      "A host registration token is wrong, expired, used or revoked, its file is readable by others, or the control plane refused the host.",
  },
  ERR_HOST_JOIN_TLS: {
    status: 502,
    summary:
      "The hub a host joins did not present the certificate its registration token pins, or does not speak TLS although the token says it does: nothing was sent or joined.",
  },
  ERR_HOST_JOIN_QUOTA: {
    status: 409,
    summary:
      "The joining host has cores quotas for accounts the control plane has none for: set them on the control plane first, then join again with the same token.",
  },
  ERR_HOST_JOINED: {
    status: 409,
    summary:
      "The host is joined to a control plane, which gives workspace ids across its hosts: create the workspace through the control plane.",
  },
  ERR_HOST_OFFLINE: {
    status: 503,
    summary:
      "The workspace's host (or every host, for a create) is offline or did not answer; nothing was done, try again when it is back.",
  },
  ERR_HOST_NO_FIT: {
    status: 503,
    summary:
      "No ready host can take the workspace: each is drained, or lacks its image (and the import failed or has no source), free cores, memory or disk; the message says why for each host.",
  },
  ERR_HOST_NOT_FOUND: {
    status: 404,
    summary: "No such host: the hub has never heard it (it never joined, or never started).",
  },
  ERR_HOST_IMAGE_SOURCE: {
    status: 400,
    summary:
      "An image import from the admin pages names no root file system directory of the hub's images directory (--images DIR: a directory DIR/NAME with bin/), or the hub has none.",
  },
  ERR_ACCOUNT_ON_CONTROL_PLANE: {
    status: 409,
    summary:
      "Account quotas of a host joined to a control plane are kept by the control plane: run the account command there (--data-dir of the control plane).",
  },
  ERR_ACCOUNT_LEDGER: {
    status: 503,
    summary:
      "The control plane's account ledger could not be reached, so the host did not start the workspace.",
  },
  ERR_DOC_PATCH_INVALID: {
    status: 400,
    summary: "A document patch is malformed, out of range, or does not match its base text.",
  },
  ERR_DOC_BASE_UNKNOWN: {
    status: 409,
    summary: "A document patch names a base version the docs service does not know.",
  },
  ERR_DOC_NOT_TEXT: {
    status: 415,
    summary: "The file is binary or larger than the editor's limit: download it instead.",
  },
  ERR_DOC_NOT_OPEN: {
    status: 404,
    summary: "The document is not open: send OpenDocument first.",
  },
  ERR_DOC_VERSION: {
    status: 404,
    summary: "A version to name is not one of this document's versions that history keeps.",
  },
  ERR_DOC_VERSION_NAME: {
    status: 400,
    summary: "A version's name is longer than 80 characters or holds a control character.",
  },
  ERR_NOTEBOOK_INVALID: {
    status: 422,
    summary:
      "A notebook file is not valid nbformat 4 JSON (the message names the place): it is shown as text and left unchanged.",
  },
  ERR_NOTEBOOK_CELL_UNKNOWN: {
    status: 404,
    summary: "A notebook change names a cell the notebook does not have (deleted meanwhile?).",
  },
  ERR_NOTEBOOK_CHANGE_INVALID: {
    status: 400,
    summary:
      "A notebook change is not possible as asked (a cell id taken, a split outside the text, cells not next to each other).",
  },
  ERR_AGENT_THREAD_NOT_FOUND: {
    status: 404,
    summary: "No such agent thread in this chat room (never created, or deleted).",
  },
  ERR_AGENT_THREAD_BUSY: {
    status: 409,
    summary: "A thread cannot be deleted while one of its turns runs or waits: stop it first.",
  },
  ERR_AGENT_TURN_NOT_FOUND: { status: 404, summary: "No such turn in this agent thread." },
  ERR_AGENT_PROMPT: {
    status: 400,
    summary: "A prompt is empty, too long, or names an image that is not an absolute path.",
  },
  ERR_AGENT_SETTINGS: {
    status: 400,
    summary:
      "Bad thread settings: unknown agent, empty custom command, relative directory, bad env name.",
  },
  ERR_AGENT_SCHEDULE: {
    status: 400,
    summary:
      "A thread's schedule is not valid: an empty prompt, an unknown time zone, a cron expression that does not parse or never runs.",
  },
  ERR_AGENT_REQUEST: {
    status: 400,
    summary:
      "An agents request is not valid JSON, names an unknown op or does not match its schema.",
  },
  ERR_AGENT_START: {
    status: 502,
    summary: "The agent could not be started: command not found, or it exited before it answered.",
  },
  ERR_AGENT_PROTOCOL: {
    status: 502,
    summary:
      "The agent does not speak ACP: it wrote something that is not JSON-RPC, or answered wrongly.",
  },
  ERR_AGENT_TIMEOUT: {
    status: 504,
    summary: "The agent did not answer initialize or session/new in time.",
  },
  ERR_AGENT_AUTH: {
    status: 401,
    summary:
      "The agent needs credentials: set its API key in the agent settings, or log in with its CLI.",
  },
  ERR_AGENT_SESSION: {
    status: 502,
    summary: "The agent refused to create or load the thread's session.",
  },
  ERR_AGENT_CRASHED: {
    status: 502,
    summary:
      "The agent process ended during the turn (its stderr is in the reason); it is restarted.",
  },
  ERR_AGENT_RESTARTED: {
    status: 503,
    summary: "The agents service restarted while the turn ran; the turn did not finish.",
  },
  ERR_AGENT_READ_ONLY: {
    status: 403,
    summary: "The thread is in read-only mode: the agent may not write files.",
  },
  ERR_AGENT_OUTSIDE_WORKDIR: {
    status: 403,
    summary: "Workspace-write mode: the agent may write only under the thread's working directory.",
  },
  ERR_AGENT_PROTECTED_PATH: {
    status: 403,
    summary:
      "Outside full access, plus's data directory, its token files and credential folders (~/.ssh, ~/.gnupg, ~/.config/nats) are neither readable nor writable by the agent.",
  },
  ERR_AGENT_SIGN_IN: {
    status: 400,
    summary:
      "The agent's interactive sign-in could not run or did not succeed (the reason says why).",
  },
  ERR_AGENT_KEYS_AT_HUB: {
    status: 400,
    summary:
      "A hosted workspace's agents get the API keys of the account that submits a turn, kept by the hub: set them there, not in the workspace.",
  },
  ERR_AGENT_ENV_SECRET: {
    status: 400,
    summary:
      "A thread's environment holds a name that looks like a secret (*_KEY, *_TOKEN, *SECRET*, *PASSWORD*): store it as an API key instead.",
  },
  ERR_AGENT_NOT_WAITING: {
    status: 409,
    summary: "The turn is not waiting for that permission answer (answered, timed out or ended).",
  },
  ERR_AGENT_REVERT_CONFLICT: {
    status: 409,
    summary:
      "A file changed after the turn wrote it: nothing was reverted (revert the turn again to confirm).",
  },
  ERR_REMOTE_TARGET: {
    status: 400,
    summary: "A remote target is not of the form [user@]host[:port].",
  },
  ERR_REMOTE_UNREACHABLE: {
    status: 502,
    summary:
      "The remote host could not be reached over SSH (name, network, port or timeout); the ssh output says which.",
  },
  ERR_REMOTE_AUTH: {
    status: 401,
    summary: "SSH refused the login (wrong key, password or user); the ssh output says why.",
  },
  ERR_REMOTE_HOST_KEY: {
    status: 401,
    summary:
      "SSH does not know the remote's host key, or it changed: the message names the key's fingerprint (SHA256:…) and how to check and accept it.",
  },
  ERR_REMOTE_DISK_FULL: {
    status: 507,
    summary:
      "The remote's disk (or quota) is full: installing or starting cocalc-plus there failed with No space left on device.",
  },
  ERR_REMOTE_NO_NODE: {
    status: 424,
    summary: "The remote has no Node.js 20 or newer on the PATH of a non-interactive ssh shell.",
  },
  ERR_REMOTE_PLATFORM: {
    status: 424,
    summary:
      "The remote OS or CPU is not supported, or it lacks what a remote of another platform needs (its own nats-server, npm, a native module npm could not install).",
  },
  ERR_REMOTE_NOT_INSTALLED: {
    status: 424,
    summary:
      "cocalc-plus is not installed on the remote and --no-install (or --forward-only) forbids installing it.",
  },
  ERR_REMOTE_INSTALL: {
    status: 502,
    summary: "Copying cocalc-plus to the remote failed; the output says why.",
  },
  ERR_REMOTE_DAEMON: {
    status: 502,
    summary: "The remote cocalc-plus did not start or does not answer through the tunnel.",
  },
  ERR_REMOTE_NOT_ASKED: {
    status: 409,
    summary:
      "An answer came for a question of ssh that no connect waits for (answered already, or given up).",
  },
  ERR_REMOTE_SSH: {
    status: 502,
    summary: "An ssh command failed for another reason; the ssh output says why.",
  },
  ERR_REMOTE_NOT_FOUND: {
    status: 404,
    summary: "No remote session with that target or id.",
  },
  ERR_REMOTE_PORT: {
    status: 409,
    summary:
      "The local port for the tunnel (--local-port) is in use by another program (checked before anything starts) or cannot be forwarded.",
  },
  ERR_APP_PORT: {
    status: 400,
    summary: "An app's port is not a whole number from 1 to 65535.",
  },
  ERR_APP_PORT_IN_USE: {
    status: 409,
    summary: "Another program listens on the port an app was to start on.",
  },
  ERR_APP_COMMAND: {
    status: 400,
    summary: "A command app's command line is empty, too long or contains a NUL byte.",
  },
  ERR_APP_CWD: {
    status: 400,
    summary: "An app's directory is not an absolute path of an existing directory.",
  },
  ERR_APP_NOT_INSTALLED: {
    status: 424,
    summary: "The program of that app is not on the PATH; the message says how to install it.",
  },
  ERR_APP_RUNNING: {
    status: 409,
    summary: "An app already runs on that port: stop it first or restart it.",
  },
  ERR_APP_NOT_FOUND: {
    status: 404,
    summary: "No app with that id.",
  },
  ERR_APP_START: {
    status: 502,
    summary: "An app could not be spawned, or its port did not answer HTTP in time.",
  },
  ERR_FORWARD_PORT: {
    status: 400,
    summary: "A port of a forward is not a whole number from 1 to 65535.",
  },
  ERR_FORWARD_DIRECTION: {
    status: 400,
    summary: "A forward's direction is not remote-to-local (ssh -L) or local-to-remote (ssh -R).",
  },
  ERR_FORWARD_PORT_IN_USE: {
    status: 409,
    summary: "The local port of a remote-to-local forward is in use by another program.",
  },
  ERR_FORWARD_DUPLICATE: {
    status: 409,
    summary: "A forward already listens on that port (here, or on the session's remote).",
  },
  ERR_FORWARD_NO_SESSION: {
    status: 404,
    summary: "No remote session with that target: connect it first (cocalc-plus ssh TARGET).",
  },
  ERR_FORWARD_NOT_FOUND: { status: 404, summary: "No such port forward." },
  ERR_FORWARD_SSH: {
    status: 502,
    summary:
      "The ssh process of a forward failed (login, network, or the remote port in use); it is restarted with backoff.",
  },
  ERR_HUB_NATS_INPUT: {
    status: 400,
    summary:
      "A user credential was asked with a bad nkey public key, account or workspace id, role, JetStream domain or lifetime.",
  },
  ERR_HUB_NATS_REVOKED: {
    status: 403,
    summary:
      "That browser key was revoked (signed out): the page makes a new key and signs in again.",
  },
  ERR_HUB_NATS_KEYS: {
    status: 500,
    summary:
      "The hub's NATS key file is unreadable, malformed or readable by others (it must be 0600).",
  },
  ERR_HUB_NATS_PUSH: {
    status: 502,
    summary: "nats-server did not accept an updated account JWT (a revocation) from the hub.",
  },
} as const;

/** Every error code the product can report. */
export type ErrorCode = keyof typeof ErrorCodes;

/** An expected failure with a stable code; anything else thrown is a bug. */
export class CocalcError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "CocalcError";
    this.code = code;
    this.status = ErrorCodes[code].status;
    if (details !== undefined) this.details = details;
  }
}

/** The wire form of an error, as sent in replies and HTTP bodies. */
export interface ErrorPayload {
  code: ErrorCode | "ERR_INTERNAL";
  message: string;
  details?: Record<string, unknown>;
}

/** Turns anything thrown into its wire form; unexpected errors become ERR_INTERNAL. */
export function toErrorPayload(err: unknown): ErrorPayload {
  if (err instanceof CocalcError) {
    return err.details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: err.details };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: "ERR_INTERNAL", message };
}

/** Rebuilds a CocalcError from its wire form (the inverse of toErrorPayload). */
export function fromErrorPayload(payload: ErrorPayload): Error {
  if (payload.code !== "ERR_INTERNAL" && payload.code in ErrorCodes) {
    return new CocalcError(payload.code, payload.message, payload.details);
  }
  return new Error(payload.message);
}
