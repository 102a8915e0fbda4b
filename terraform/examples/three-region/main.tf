# A five-voter drnode cluster over three AWS regions (2/2/1): any one region
# can be lost and the other two still hold a majority (3 of 5 or 4 of 5).
#
#   terraform init
#   TF_VAR_cluster_token=$(cat token) terraform apply -var-file=prod.tfvars
#
# See docs/deploy.md for the whole procedure.

provider "aws" {
  alias  = "a"
  region = var.region_a.aws_region

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "b"
  region = var.region_b.aws_region

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "c"
  region = var.region_c.aws_region

  default_tags {
    tags = var.tags
  }
}

locals {
  regions = [var.region_a, var.region_b, var.region_c]

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
}

module "dns" {
  source = "../../modules/dns"
  providers = {
    aws = aws.a
  }

  name              = var.cluster_name
  zone_id           = var.dns_zone_id
  service_names     = var.service_names
  record_type       = var.service_record_type
  initial_targets   = local.primary.dns_targets
  epoch_record_name = var.epoch_record_name
}

module "region_a" {
  source = "../../modules/region"
  providers = {
    aws = aws.a
  }

  cluster_name       = var.cluster_name
  region             = var.region_a.name
  services           = var.region_a.services
  existing_network   = var.region_a.existing_network
  app_cidrs          = var.region_a.app_cidrs
  vpc_cidr           = var.region_a.vpc_cidr
  subnet_cidrs       = var.region_a.subnet_cidrs
  availability_zones = var.region_a.azs
  members            = local.members
  regions            = local.cluster_regions
  primary_region     = var.primary_region
  bootstrapped       = var.bootstrapped
  admin_cidrs        = var.admin_cidrs
  monitoring_cidrs   = var.monitoring_cidrs
  instance_type      = var.instance_type
  package_url        = var.package_url
  package_sha256     = var.package_sha256
  cluster_token      = var.cluster_token
  api_tokens         = var.api_tokens
  tls_ca_cert        = local.tls_ca_cert
  tls_node_certs     = local.tls_node_certs
  tls_node_keys      = local.tls_node_keys
  tls_client_auth    = var.tls_client_auth
  fence_hook         = var.fence_hook
  probe_interval_ms  = var.probe_interval_ms
  extra_policy_arns  = { dns = module.dns.policy_arn }
}

module "region_b" {
  source = "../../modules/region"
  providers = {
    aws = aws.b
  }

  cluster_name       = var.cluster_name
  region             = var.region_b.name
  services           = var.region_b.services
  existing_network   = var.region_b.existing_network
  app_cidrs          = var.region_b.app_cidrs
  vpc_cidr           = var.region_b.vpc_cidr
  subnet_cidrs       = var.region_b.subnet_cidrs
  availability_zones = var.region_b.azs
  members            = local.members
  regions            = local.cluster_regions
  primary_region     = var.primary_region
  bootstrapped       = var.bootstrapped
  admin_cidrs        = var.admin_cidrs
  monitoring_cidrs   = var.monitoring_cidrs
  instance_type      = var.instance_type
  package_url        = var.package_url
  package_sha256     = var.package_sha256
  cluster_token      = var.cluster_token
  api_tokens         = var.api_tokens
  tls_ca_cert        = local.tls_ca_cert
  tls_node_certs     = local.tls_node_certs
  tls_node_keys      = local.tls_node_keys
  tls_client_auth    = var.tls_client_auth
  fence_hook         = var.fence_hook
  probe_interval_ms  = var.probe_interval_ms
  extra_policy_arns  = { dns = module.dns.policy_arn }
}

module "region_c" {
  source = "../../modules/region"
  providers = {
    aws = aws.c
  }

  cluster_name       = var.cluster_name
  region             = var.region_c.name
  services           = var.region_c.services
  existing_network   = var.region_c.existing_network
  app_cidrs          = var.region_c.app_cidrs
  vpc_cidr           = var.region_c.vpc_cidr
  subnet_cidrs       = var.region_c.subnet_cidrs
  availability_zones = var.region_c.azs
  members            = local.members
  regions            = local.cluster_regions
  primary_region     = var.primary_region
  bootstrapped       = var.bootstrapped
  admin_cidrs        = var.admin_cidrs
  monitoring_cidrs   = var.monitoring_cidrs
  instance_type      = var.instance_type
  package_url        = var.package_url
  package_sha256     = var.package_sha256
  cluster_token      = var.cluster_token
  api_tokens         = var.api_tokens
  tls_ca_cert        = local.tls_ca_cert
  tls_node_certs     = local.tls_node_certs
  tls_node_keys      = local.tls_node_keys
  tls_client_auth    = var.tls_client_auth
  fence_hook         = var.fence_hook
  probe_interval_ms  = var.probe_interval_ms
  extra_policy_arns  = { dns = module.dns.policy_arn }
}

# Full mesh of inter-region peerings, so every coordinator reaches every
# other one's raft port over private addresses.
module "peering_ab" {
  source = "../../modules/peering"
  providers = {
    aws.requester = aws.a
    aws.accepter  = aws.b
  }

  name                     = "${var.cluster_name}-${var.region_a.name}-${var.region_b.name}"
  requester_vpc_id         = module.region_a.vpc_id
  requester_cidr           = module.region_a.vpc_cidr
  requester_route_table_id = module.region_a.route_table_id
  accepter_vpc_id          = module.region_b.vpc_id
  accepter_cidr            = module.region_b.vpc_cidr
  accepter_route_table_id  = module.region_b.route_table_id
}

module "peering_ac" {
  source = "../../modules/peering"
  providers = {
    aws.requester = aws.a
    aws.accepter  = aws.c
  }

  name                     = "${var.cluster_name}-${var.region_a.name}-${var.region_c.name}"
  requester_vpc_id         = module.region_a.vpc_id
  requester_cidr           = module.region_a.vpc_cidr
  requester_route_table_id = module.region_a.route_table_id
  accepter_vpc_id          = module.region_c.vpc_id
  accepter_cidr            = module.region_c.vpc_cidr
  accepter_route_table_id  = module.region_c.route_table_id
}

module "peering_bc" {
  source = "../../modules/peering"
  providers = {
    aws.requester = aws.b
    aws.accepter  = aws.c
  }

  name                     = "${var.cluster_name}-${var.region_b.name}-${var.region_c.name}"
  requester_vpc_id         = module.region_b.vpc_id
  requester_cidr           = module.region_b.vpc_cidr
  requester_route_table_id = module.region_b.route_table_id
  accepter_vpc_id          = module.region_c.vpc_id
  accepter_cidr            = module.region_c.vpc_cidr
  accepter_route_table_id  = module.region_c.route_table_id
}
