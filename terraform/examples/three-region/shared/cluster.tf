# What every state of the example derives from the one cluster description
# (cluster.tfvars): the regions, the five members with their fixed
# addresses, TLS material and the API endpoints. Nothing here reads another
# state or another region's AWS API, so each state plans alone.
# global/, region/ and peering/ link this file and variables.tf.

locals {
  regions = [var.region_a, var.region_b, var.region_c]

  # drnode's ports on every coordinator, passed to the region module.
  raft_port = 7001
  api_port  = 8001

  # Every initial voter; the same list is rendered into every node's config.
  members = flatten([for r in local.regions : [for n in r.nodes : {
    id         = n.id
    region     = r.name
    subnet     = n.subnet
    private_ip = n.private_ip
  }]])

  # TLS from a drctl certs directory (ca.crt, node-ID.crt, node-ID.key),
  # or from the three variables.
  tls_ca_cert = var.tls_dir != "" ? file("${var.tls_dir}/ca.crt") : var.tls_ca_cert
  tls_node_certs = var.tls_dir != "" ? { for m in local.members :
  tostring(m.id) => file("${var.tls_dir}/node-${m.id}.crt") } : var.tls_node_certs
  tls_node_keys = var.tls_dir != "" ? { for m in local.members :
  tostring(m.id) => sensitive(file("${var.tls_dir}/node-${m.id}.key")) } : var.tls_node_keys

  cluster_regions = [for r in local.regions : {
    name        = r.name
    aws_region  = r.aws_region
    bucket      = r.bucket
    priority    = r.priority
    dns_targets = r.dns_targets
  }]

  primary = one([for r in local.regions : r if r.name == var.primary_region])

  # The members' addresses are inputs, so every state knows every endpoint.
  api_scheme = local.tls_ca_cert != "" ? "https" : "http"
  api_endpoints = { for m in local.members :
  tostring(m.id) => "${local.api_scheme}://${m.private_ip}:${local.api_port}" }
  drctl_endpoints = join(",", [for m in local.members : local.api_endpoints[tostring(m.id)]])
}
