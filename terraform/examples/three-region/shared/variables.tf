variable "cluster_name" {
  description = "Name of the coordinator cluster; prefixes resource names."
  type        = string
}

variable "region_a" {
  description = "First region: drnode name, AWS region, network (built here, or existing_network: your VPC, subnet ids in subnet_cidrs' order, route table), backup bucket, DR priority, DNS targets and its coordinators (raft id, subnet index, fixed private address)."
  type = object({
    name         = string
    aws_region   = string
    vpc_cidr     = string
    subnet_cidrs = list(string)
    azs          = list(string)
    bucket       = string
    priority     = number
    dns_targets  = list(string)
    nodes = list(object({
      id         = number
      subnet     = number
      private_ip = string
    }))
    app_cidrs = optional(list(string), [])
    services = optional(object({
      pg         = optional(string, "")
      redis      = optional(string, "")
      app_url    = optional(string, "")
      pg_standby = optional(string, "")
      wal_copies = optional(string, "")
    }), {})
    existing_network = optional(object({
      vpc_id         = string
      subnet_ids     = list(string)
      route_table_id = string
    }))
  })
}

variable "region_b" {
  description = "Second region, as region_a."
  type = object({
    name         = string
    aws_region   = string
    vpc_cidr     = string
    subnet_cidrs = list(string)
    azs          = list(string)
    bucket       = string
    priority     = number
    dns_targets  = list(string)
    nodes = list(object({
      id         = number
      subnet     = number
      private_ip = string
    }))
    app_cidrs = optional(list(string), [])
    services = optional(object({
      pg         = optional(string, "")
      redis      = optional(string, "")
      app_url    = optional(string, "")
      pg_standby = optional(string, "")
      wal_copies = optional(string, "")
    }), {})
    existing_network = optional(object({
      vpc_id         = string
      subnet_ids     = list(string)
      route_table_id = string
    }))
  })
}

variable "region_c" {
  description = "Third region, as region_a."
  type = object({
    name         = string
    aws_region   = string
    vpc_cidr     = string
    subnet_cidrs = list(string)
    azs          = list(string)
    bucket       = string
    priority     = number
    dns_targets  = list(string)
    nodes = list(object({
      id         = number
      subnet     = number
      private_ip = string
    }))
    app_cidrs = optional(list(string), [])
    services = optional(object({
      pg         = optional(string, "")
      redis      = optional(string, "")
      app_url    = optional(string, "")
      pg_standby = optional(string, "")
      wal_copies = optional(string, "")
    }), {})
    existing_network = optional(object({
      vpc_id         = string
      subnet_ids     = list(string)
      route_table_id = string
    }))
  })

  # Checked here rather than in a check block (a warning): the plan stops.
  validation {
    condition = (
      length(concat(var.region_a.nodes, var.region_b.nodes, var.region_c.nodes)) == 5 &&
      length(distinct([for n in concat(var.region_a.nodes, var.region_b.nodes, var.region_c.nodes) : n.id])) == 5 &&
      length(distinct([for n in concat(var.region_a.nodes, var.region_b.nodes, var.region_c.nodes) : n.private_ip])) == 5 &&
      max(length(var.region_a.nodes), length(var.region_b.nodes), length(var.region_c.nodes)) <= 2
    )
    error_message = "The example expects five voters with distinct ids and addresses, at most two per region (2/2/1): then losing any one region leaves a majority."
  }
}

variable "primary_region" {
  description = "drnode region that is primary when the cluster is created; the service records start at its dns_targets."
  type        = string

  validation {
    condition     = contains([var.region_a.name, var.region_b.name, var.region_c.name], var.primary_region)
    error_message = "primary_region must name one of region_a, region_b and region_c."
  }
}

variable "bootstrapped" {
  description = "false for the first apply; true once the cluster exists, so that replacement nodes join instead of bootstrapping (docs/deploy.md)."
  type        = bool
  default     = false
}

variable "admin_cidrs" {
  description = "CIDRs allowed to reach the drnode API (operators, drctl)."
  type        = list(string)
}

variable "monitoring_cidrs" {
  description = "CIDRs of the monitoring system (/api/health, /metrics on the API port)."
  type        = list(string)
  default     = []
}

variable "probe_interval_ms" {
  description = "How often every coordinator probes its region's services ([probes] interval_ms)."
  type        = number
  default     = 5000
}

variable "instance_type" {
  description = "EC2 instance type of the coordinators."
  type        = string
  default     = "t3.small"
}

variable "package_url" {
  description = "HTTPS URL of the drnode .deb built by make package."
  type        = string
}

variable "package_sha256" {
  description = "SHA-256 of that .deb."
  type        = string
}

variable "cluster_token" {
  description = "Admin bearer token of the cluster (at least 32 characters). Pass it with TF_VAR_cluster_token, not in a tfvars file."
  type        = string
  sensitive   = true
}

variable "api_tokens" {
  description = "Named API tokens with roles, by name (reader, operator, node, admin); cluster_token must be one of them as node or admin. Empty: no roles. Pass it with TF_VAR_api_tokens, never a tfvars file."
  type = map(object({
    role  = string
    token = string
  }))
  default   = {}
  sensitive = true
}

variable "tls_dir" {
  description = "A drctl certs directory (ca.crt, node-ID.crt and node-ID.key for every member): TLS on, read from there instead of the three variables below. Its keys end up in SSM and in the state, never in user data or outputs."
  type        = string
  default     = ""
}

variable "tls_ca_cert" {
  description = "PEM of the cluster CA (drctl certs init --dir D; D/ca.crt). With it every coordinator runs TLS (HTTPS API, raft over mutual TLS) and needs its certificate and key below. \"\": plain."
  type        = string
  default     = ""
}

variable "tls_node_certs" {
  description = "PEM certificate of each coordinator by raft id (\"1\" = file(\"D/node-1.crt\")), from drctl certs issue --id ID --region R --ip PRIVATE_IP."
  type        = map(string)
  default     = {}
}

variable "tls_node_keys" {
  description = "PEM key of each coordinator by raft id. Secret: pass it with TF_VAR_tls_node_keys or a -var-file kept off version control; it goes to SSM SecureStrings, never user data or outputs."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "tls_client_auth" {
  description = "API clients must present a certificate of the cluster CA (drctl certs issue --client NAME)."
  type        = bool
  default     = false
}

variable "fence_hook" {
  description = "Contents of /etc/drnode/fence-hook on every coordinator; null keeps the module's default (log only)."
  type        = string
  default     = null
}

variable "dns_zone_id" {
  description = "Route 53 hosted zone of the service records."
  type        = string
}

variable "service_names" {
  description = "Fully qualified service record names that follow the primary site."
  type        = list(string)
}

variable "service_record_type" {
  description = "Type of the service records (A for IPv4 targets, CNAME for a host name)."
  type        = string
  default     = "A"
}

variable "epoch_record_name" {
  description = "Fully qualified name of the epoch TXT record."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
