# One region's share of a drnode coordinator cluster: network, backup
# bucket, instance role, security group and the coordinators themselves.
# The members' private addresses are inputs, fixed before anything boots, so
# that every node's cloud-init can carry the full bootstrap member list.

data "aws_region" "current" {}

data "aws_partition" "current" {}

data "aws_ami" "debian12" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian's official AWS account

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

locals {
  name = "${var.cluster_name}-${var.region}"
  tags = merge(var.tags, {
    "drnode:cluster" = var.cluster_name
    "drnode:region"  = var.region
  })

  own_region = one([for r in var.regions : r if r.name == var.region])

  # This region's instances, and every coordinator (raft peers included),
  # keyed by raft id.
  nodes   = { for m in var.members : tostring(m.id) => m if m.region == var.region }
  members = { for m in var.members : tostring(m.id) => m }

  other_buckets = [for r in var.regions : r.bucket if r.name != var.region]

  # What every node's [member.ID] and [region.NAME] sections say. The same
  # lists go to every node of every region, so their member lists agree.
  template_members = [for m in var.members : {
    id           = m.id
    region       = m.region
    raft_address = "${m.private_ip}:${var.raft_port}"
    api_address  = "${m.private_ip}:${var.api_port}"
  }]
  template_regions = [for r in var.regions : {
    name         = r.name
    priority     = r.priority
    dns_targets  = join(", ", r.dns_targets)
    object_store = "s3://${r.bucket}/${var.backup_prefix}?region=${r.aws_region}"
  }]

  # [services] and [probes] lines: only what is set.
  service_lines = compact([
    var.services.pg != "" ? "pg = ${var.services.pg}" : "",
    var.services.redis != "" ? "redis = ${var.services.redis}" : "",
    var.services.pg_standby != "" ? "pg_standby = ${var.services.pg_standby}" : "",
    var.services.wal_copies != "" ? "wal_copies = ${var.services.wal_copies}" : "",
  ])
  probe_lines = compact([
    "interval_ms = ${var.probe_interval_ms}",
    "timeout_ms = ${min(2000, floor(var.probe_interval_ms / 2))}",
    var.services.app_url != "" ? "app_url = ${var.services.app_url}" : "",
  ])

  # The user data of each node: no secret in it. The token is read from
  # SSM Parameter Store at first boot with the instance role.
  cloud_init = { for id, m in local.nodes : id => templatefile("${path.module}/cloud-init.yaml.tftpl", {
    hostname         = "${local.name}-${id}"
    package_url      = var.package_url
    package_sha256   = var.package_sha256
    config_b64       = base64encode(local.drnode_ini[id])
    token_parameter  = local.token_parameter
    tokens_parameter = local.tokens_parameter
    aws_region       = local.own_region.aws_region
    fence_hook_b64   = base64encode(var.fence_hook)
    tls_key_param    = local.tls_key_parameter[id]
    tls_ca_b64       = local.tls ? base64encode(var.tls_ca_cert) : ""
    tls_cert_b64     = local.tls ? base64encode(lookup(var.tls_node_certs, id, "")) : ""
  }) }
  token_parameter = "/${var.cluster_name}/${var.region}/drnode-token"
  # Whether there are named tokens is not a secret (the tokens are).
  roles            = nonsensitive(length(var.api_tokens) > 0)
  tokens_parameter = local.roles ? "/${var.cluster_name}/${var.region}/drnode-tokens" : ""
  api_lines = local.roles ? [
    "tokens_file = /etc/drnode/tokens",
  ] : []

  # [tls]: the CA and node certificates come in the user data (public),
  # each node's key from an SSM SecureString of its own.
  tls = var.tls_ca_cert != ""
  tls_lines = local.tls ? concat([
    "",
    "[tls]",
    "cert = /etc/drnode/tls/node.crt",
    "key = /etc/drnode/tls/node.key",
    "ca = /etc/drnode/tls/ca.crt",
  ], var.tls_client_auth ? ["client_ca = /etc/drnode/tls/ca.crt"] : []) : []
  tls_key_parameter = { for id, m in local.nodes : id =>
    local.tls ? "/${var.cluster_name}/${var.region}/drnode-tls-key-${id}" : ""
  }

  # drnode.ini of each node of this region: no secrets in it (the token is
  # a separate file).
  drnode_ini = { for id, m in local.nodes : id => templatefile("${path.module}/drnode.ini.tftpl", {
    node_id        = m.id
    region         = var.region
    raft_address   = "${m.private_ip}:${var.raft_port}"
    api_address    = "${m.private_ip}:${var.api_port}"
    log_level      = var.log_level
    join           = var.bootstrapped
    primary_region = var.primary_region
    members        = local.template_members
    regions        = local.template_regions
    service_lines  = local.service_lines
    api_lines      = local.api_lines
    probe_lines    = local.probe_lines
    tls_lines      = local.tls_lines
  }) }
}
