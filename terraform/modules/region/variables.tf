variable "cluster_name" {
  description = "Name of the coordinator cluster; prefixes every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.cluster_name))
    error_message = "cluster_name: 2 to 31 characters from a-z, 0-9 and -, starting with a letter."
  }
}

variable "region" {
  description = "drnode region name of this module instance (for example eu-west); the AWS region comes from the provider."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.region))
    error_message = "region: 1 to 63 characters from a-z, 0-9 and -, starting with a letter (drnode's name rule)."
  }
}

variable "vpc_cidr" {
  description = "CIDR of this region's coordinator VPC. Must not overlap the other regions' VPCs (they are peered)."
  type        = string
}

variable "subnet_cidrs" {
  description = "One subnet per availability zone, in zone order; a member's subnet is an index into this list."
  type        = list(string)

  validation {
    condition     = length(var.subnet_cidrs) >= 1
    error_message = "subnet_cidrs: at least one subnet."
  }
}

variable "existing_network" {
  description = "Bring your own VPC: its id, the id of each subnet in the order of subnet_cidrs (which must state their CIDRs) and the route table of those subnets. null (default): the module builds the VPC, subnets, internet gateway, route table and S3 endpoint. With your own, egress to apt, S3 and Route 53 (HTTPS) and the peering routes are yours to provide; the module adds peering routes to route_table_id."
  type = object({
    vpc_id         = string
    subnet_ids     = list(string)
    route_table_id = string
  })
  default = null

  validation {
    condition     = var.existing_network == null || (startswith(try(var.existing_network.vpc_id, ""), "vpc-") && alltrue([for s in try(var.existing_network.subnet_ids, []) : startswith(s, "subnet-")]) && startswith(try(var.existing_network.route_table_id, ""), "rtb-"))
    error_message = "existing_network: vpc_id vpc-..., subnet_ids subnet-..., route_table_id rtb-...."
  }
}

variable "availability_zones" {
  description = "Availability zone of each subnet, in the order of subnet_cidrs (eu-west-1a, ...). Pinned, never looked up: a zone that leaves the \"available\" list during an incident must not shift the subnets and replace coordinators."
  type        = list(string)
}

variable "members" {
  description = "Every initial voter of the cluster, in all regions. The instances of this region are the members whose region is var.region; the others are raft peers. private_ip must lie in the member's subnet and is fixed before boot, so that every node's bootstrap member list can be rendered."
  type = list(object({
    id         = number
    region     = string
    subnet     = number
    private_ip = string
  }))
}

variable "regions" {
  description = "Every region of the cluster ([region.NAME] in drnode's config): backup bucket, DR priority and DNS targets."
  type = list(object({
    name        = string
    aws_region  = string
    bucket      = string
    priority    = number
    dns_targets = list(string)
  }))
}

variable "primary_region" {
  description = "drnode region that is primary when the cluster is created ([bootstrap] primary_region)."
  type        = string
}

variable "bootstrapped" {
  description = "false for the first apply, which creates the cluster. Set it to true once the cluster exists: every instance created from then on (a replacement) starts with join = true and waits to be added instead of bootstrapping a second cluster."
  type        = bool
  default     = false
}

variable "backup_prefix" {
  description = "Key prefix of drnode's objects in the backup buckets."
  type        = string
  default     = "drnode"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.backup_prefix))
    error_message = "backup_prefix: path segments of A-Z, a-z, 0-9, '.', '_' and '-', without leading or trailing '/'."
  }
}

variable "noncurrent_version_days" {
  description = "Days a deleted or overwritten backup object is kept as a noncurrent version before S3 expires it. drnode's own retention deletes current objects; this bounds how long they can still be recovered."
  type        = number
  default     = 14
}

variable "raft_port" {
  description = "TCP port of raft traffic between coordinators."
  type        = number
  default     = 7001
}

variable "api_port" {
  description = "TCP port of drnode's HTTP API (also /api/health and /metrics)."
  type        = number
  default     = 8001
}

variable "admin_cidrs" {
  description = "CIDRs allowed to reach the API port (drctl, operators)."
  type        = list(string)
}

variable "app_cidrs" {
  description = "Networks of this region's Cogitator app and its data (PostgreSQL, Redis): they reach the API port (breaker events, /api/llm/route, /api/health), and the coordinators reach them on service_ports to back up and probe."
  type        = list(string)
  default     = []
}

variable "service_ports" {
  description = "TCP ports the coordinators open to app_cidrs: PostgreSQL, Redis and the app's HTTP(S)."
  type        = list(number)
  default     = [5432, 6379, 80, 443]
}

variable "services" {
  description = "What this region's coordinators back up and probe ([services] and [probes] of drnode.ini): pg, a libpq conninfo with an IP address and no password (the password goes into the drnode user's ~/.pgpass); redis, IP:port; app_url, the app's base URL (GET /api/health is probed); pg_standby, the conninfo of this region's standby replaying the WAL archive (probed, and promoted by the failover runbook instead of a restore when recent enough); wal_copies, all or region names: the other regions' buckets that also hold every archived WAL file (the WAL expiry after a base backup covers them). Empty: not backed up or probed from this region."
  type = object({
    pg         = optional(string, "")
    redis      = optional(string, "")
    app_url    = optional(string, "")
    pg_standby = optional(string, "")
    wal_copies = optional(string, "")
  })
  default = {}

  validation {
    condition     = !can(regex("password", lower(var.services.pg)))
    error_message = "services.pg: no password in the conninfo (it would be in the user data and the state); use ~drnode/.pgpass."
  }
  validation {
    condition     = !can(regex("password", lower(var.services.pg_standby)))
    error_message = "services.pg_standby: no password in the conninfo (it would be in the user data and the state); use ~drnode/.pgpass."
  }
  validation {
    condition     = var.services.wal_copies == "" || can(regex("^(all|[a-z0-9-]+( *, *[a-z0-9-]+)*)$", var.services.wal_copies))
    error_message = "services.wal_copies: all, or region names separated by commas."
  }
  validation {
    condition     = var.services.redis == "" || can(regex("^[0-9.]+:[0-9]{1,5}$", var.services.redis))
    error_message = "services.redis: IPv4:port (drnode connects to an address, not a name)."
  }
  validation {
    condition     = var.services.app_url == "" || can(regex("^https?://", var.services.app_url))
    error_message = "services.app_url: an http:// or https:// URL."
  }
}

variable "probe_interval_ms" {
  description = "How often the coordinators probe their region's services ([probes] interval_ms): how soon a lost region is noticed."
  type        = number
  default     = 5000

  validation {
    condition     = var.probe_interval_ms >= 500 && var.probe_interval_ms <= 3600000
    error_message = "probe_interval_ms: 500 to 3600000."
  }
}

variable "monitoring_cidrs" {
  description = "CIDRs of the monitoring system, for /api/health and /metrics. drnode serves them on the API port, so these CIDRs reach the whole API; writes still need the bearer token."
  type        = list(string)
  default     = []
}

variable "instance_type" {
  description = "EC2 instance type of the coordinators."
  type        = string
  default     = "t3.small"
}

variable "ami_id" {
  description = "AMI of the coordinators; null selects the newest official Debian 12 (bookworm) amd64 image."
  type        = string
  default     = null
}

variable "root_volume_gb" {
  description = "Size of the encrypted root volume, which also holds /var/lib/drnode."
  type        = number
  default     = 20
}

variable "associate_public_ip" {
  description = "Give each coordinator a public IPv4 address for outbound traffic (apt, S3, Route 53) through the internet gateway. Inbound traffic is still limited by the security group. Set false when the subnets route through a NAT gateway you manage."
  type        = bool
  default     = true
}

variable "package_url" {
  description = "HTTPS URL of the drnode Debian package (make package) that cloud-init installs."
  type        = string

  validation {
    condition     = startswith(var.package_url, "https://")
    error_message = "package_url must be an https:// URL."
  }
}

variable "package_sha256" {
  description = "SHA-256 of the package at package_url; cloud-init refuses any other file."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.package_sha256))
    error_message = "package_sha256: 64 lower-case hex digits."
  }
}

variable "cluster_token" {
  description = "Admin bearer token of the cluster, written to /etc/drnode/token (mode 0600)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.cluster_token) >= 32 && can(regex("^[!-~]+$", var.cluster_token))
    error_message = "cluster_token: at least 32 printable characters, no spaces."
  }
}

variable "api_tokens" {
  description = "Named API tokens with roles (reader, operator, node, admin), by name; empty: no roles (reads open, cluster_token is the one admin token). When set, cluster_token must be one of them with the node or admin role (every node sends it to the others). Rendered into /etc/drnode/tokens from an SSM SecureString, never user data."
  type = map(object({
    role  = string
    token = string
  }))
  default   = {}
  sensitive = true

  validation {
    condition = alltrue([for name, t in var.api_tokens :
      contains(["reader", "operator", "node", "admin"], t.role) &&
      can(regex("^[A-Za-z0-9_.-]{1,32}$", name)) &&
    length(t.token) >= 16 && length(t.token) <= 128 && can(regex("^[!-~]+$", t.token))])
    error_message = "api_tokens: names of 1 to 32 letters, digits, '_', '.', '-'; roles reader, operator, node or admin; tokens of 16 to 128 printable characters without spaces."
  }
}

variable "fence_hook" {
  description = "Script installed as /etc/drnode/fence-hook: what this node runs to fence its site (for example make the app read-only). null selects the default, which only logs."
  type        = string
  nullable    = false
  default     = "#!/bin/sh\n# drnode fence hook: make this site stop taking writes.\nlogger -t drnode-fence \"fence requested: $*\"\nexit 0\n"
}

variable "log_level" {
  description = "drnode log level: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level: one of debug, info, warn, error."
  }
}

variable "extra_policy_arns" {
  description = "IAM policies to attach to the coordinators' role, by a name known at plan time (for example { dns = module.dns.policy_arn })."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "ssm_session_access" {
  description = "Operators reach a coordinator with `aws ssm start-session` (the role gets AmazonSSMManagedInstanceCore; the agent talks to SSM over the HTTPS egress already open). There is no SSH either way: no key pair, no port 22."
  type        = bool
  default     = true
}

variable "tls_ca_cert" {
  description = "PEM certificate of the cluster CA (drctl certs init). Set, with tls_node_certs and tls_node_keys for every coordinator of this region: the API serves HTTPS only, nodes call each other over HTTPS and raft runs over mutual TLS ([tls]). \"\" (default): plain HTTP and raft."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = var.tls_ca_cert == "" || strcontains(var.tls_ca_cert, "-----BEGIN CERTIFICATE-----")
    error_message = "tls_ca_cert must be a PEM certificate (-----BEGIN CERTIFICATE-----)."
  }
}

variable "tls_node_certs" {
  description = "PEM certificate of each coordinator by raft id (as a string key: \"1\"), from drctl certs issue --id ID --region R --ip PRIVATE_IP. Not secret: delivered in the user data."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for c in values(var.tls_node_certs) : strcontains(c, "-----BEGIN CERTIFICATE-----")])
    error_message = "tls_node_certs: every value must be a PEM certificate."
  }
}

variable "tls_node_keys" {
  description = "PEM private key of each coordinator by raft id. Kept in an SSM SecureString per node, readable by this region's role only, fetched at first boot into /etc/drnode/tls/node.key (0600): never in user data, state outputs or logs."
  type        = map(string)
  default     = {}
  nullable    = false
  sensitive   = true
}

variable "tls_client_auth" {
  description = "With TLS: every API client (drctl, Prometheus, browsers) must present a certificate of the cluster CA ([tls] client_ca)."
  type        = bool
  default     = false
  nullable    = false
}
