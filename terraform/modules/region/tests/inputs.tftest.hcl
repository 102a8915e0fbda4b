# terraform test of modules/region alone, with a mocked AWS provider:
# inputs that must be refused before anything is built.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  cluster_name       = "cogitator-dr"
  region             = "eu-west"
  vpc_cidr           = "10.40.0.0/16"
  subnet_cidrs       = ["10.40.1.0/24"]
  availability_zones = ["eu-west-1a"]
  members = [
    { id = 1, region = "eu-west", subnet = 0, private_ip = "10.40.1.10" },
    { id = 2, region = "us-east", subnet = 0, private_ip = "10.41.1.10" },
    { id = 3, region = "ap-south", subnet = 0, private_ip = "10.42.1.10" },
  ]
  regions = [
    { name = "eu-west", aws_region = "eu-west-1", bucket = "b-eu", priority = 100, dns_targets = ["203.0.113.10"] },
    { name = "us-east", aws_region = "us-east-1", bucket = "b-us", priority = 50, dns_targets = ["198.51.100.10"] },
    { name = "ap-south", aws_region = "ap-south-1", bucket = "b-ap", priority = 10, dns_targets = ["192.0.2.10"] },
  ]
  primary_region = "eu-west"
  admin_cidrs    = ["10.8.0.0/16"]
  package_url    = "https://artifacts.example.com/drnode.deb"
  package_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
  cluster_token  = "terraform-test-token-0123456789abcdef"
}

run "accepted" {
  command = plan

  variables {
    services = { pg = "hostaddr=10.50.1.20 dbname=cogitator user=backup", redis = "10.50.1.30:6379" }
  }
  assert {
    condition     = strcontains(output.node_configs["1"], "\npg = hostaddr=10.50.1.20 dbname=cogitator user=backup\nredis = 10.50.1.30:6379\n")
    error_message = "[services] must carry pg and redis."
  }
  assert {
    condition     = length(aws_iam_role_policy_attachment.ssm_session) == 1 && endswith(aws_iam_role_policy_attachment.ssm_session[0].policy_arn, ":iam::aws:policy/AmazonSSMManagedInstanceCore")
    error_message = "Operators reach nodes by SSM Session Manager by default."
  }
}

run "standby_and_wal_copies" {
  command = plan

  variables {
    services = { pg = "hostaddr=10.50.1.20 dbname=cogitator user=backup", pg_standby = "hostaddr=10.50.1.21 dbname=cogitator user=backup", wal_copies = "all" }
  }
  assert {
    condition     = strcontains(output.node_configs["1"], "\npg = hostaddr=10.50.1.20 dbname=cogitator user=backup\npg_standby = hostaddr=10.50.1.21 dbname=cogitator user=backup\nwal_copies = all\n")
    error_message = "[services] must carry pg_standby and wal_copies when set."
  }
}

run "standby_with_a_password_refused" {
  command = plan

  variables {
    services = { pg_standby = "hostaddr=10.50.1.21 password=hunter2" }
  }
  expect_failures = [var.services]
}

run "bad_wal_copies_refused" {
  command = plan

  variables {
    services = { wal_copies = "us-east;rm" }
  }
  expect_failures = [var.services]
}

run "no_ssm_session_when_turned_off" {
  command = plan

  variables {
    ssm_session_access = false
  }
  assert {
    condition     = length(aws_iam_role_policy_attachment.ssm_session) == 0
    error_message = "ssm_session_access = false attaches no SSM policy."
  }
}

run "password_in_pg_refused" {
  command = plan

  variables {
    services = { pg = "host=10.50.1.20 password=hunter2" }
  }
  expect_failures = [var.services]
}

run "redis_by_name_refused" {
  command = plan

  variables {
    services = { redis = "redis.internal:6379" }
  }
  expect_failures = [var.services]
}

# The provider of another AWS region (a module call that lost its providers
# map) is refused before anything is created there.
run "wrong_provider_region_refused" {
  command = plan

  variables {
    region             = "us-east"
    vpc_cidr           = "10.41.0.0/16"
    subnet_cidrs       = ["10.41.1.0/24"]
    availability_zones = ["us-east-1a"]
  }
  expect_failures = [aws_security_group.coordinator]
}

# One zone for two subnets: refused before anything is built.
run "zones_must_match_subnets" {
  command = plan

  variables {
    subnet_cidrs       = ["10.40.1.0/24", "10.40.2.0/24"]
    availability_zones = ["eu-west-1a"]
  }
  expect_failures = [aws_security_group.coordinator]
}

# Named tokens without the cluster token as a node's or admin's: the
# coordinators could not talk to each other. Refused.
run "api_tokens_without_the_cluster_token_refused" {
  command = plan

  variables {
    api_tokens = {
      prometheus = { role = "reader", token = "prometheus-reader-0123456789" }
    }
  }
  expect_failures = [aws_ssm_parameter.tokens]
}

run "api_token_with_an_unknown_role_refused" {
  command = plan

  variables {
    api_tokens = {
      coordinators = { role = "boss", token = "terraform-test-token-0123456789abcdef" }
    }
  }
  expect_failures = [var.api_tokens]
}

run "tls" {
  command = plan

  variables {
    tls_ca_cert     = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
    tls_node_certs  = { "1" = "-----BEGIN CERTIFICATE-----\nNODE1\n-----END CERTIFICATE-----\n" }
    tls_node_keys   = { "1" = "-----BEGIN PRIVATE KEY-----\nSECRETKEYBODY1\n-----END PRIVATE KEY-----\n" }
    tls_client_auth = true
  }
  assert {
    condition     = strcontains(output.node_configs["1"], "\n[tls]\ncert = /etc/drnode/tls/node.crt\nkey = /etc/drnode/tls/node.key\nca = /etc/drnode/tls/ca.crt\nclient_ca = /etc/drnode/tls/ca.crt\n")
    error_message = "drnode.ini lacks the [tls] section"
  }
  assert {
    condition     = aws_ssm_parameter.tls_key["1"].type == "SecureString" && aws_ssm_parameter.tls_key["1"].name == "/cogitator-dr/eu-west/drnode-tls-key-1"
    error_message = "the node's TLS key is not an SSM SecureString of its own"
  }
  assert {
    condition     = !strcontains(aws_instance.coordinator["1"].user_data, "SECRETKEYBODY1") && !strcontains(aws_instance.coordinator["1"].user_data, base64encode("-----BEGIN PRIVATE KEY-----\nSECRETKEYBODY1"))
    error_message = "the TLS key is in the user data"
  }
  assert {
    condition     = strcontains(aws_instance.coordinator["1"].user_data, base64encode("-----BEGIN CERTIFICATE-----\nNODE1\n-----END CERTIFICATE-----\n"))
    error_message = "the node certificate is not in the user data"
  }
}

run "no_tls_by_default" {
  command = plan

  assert {
    condition     = !strcontains(output.node_configs["1"], "[tls]") && length(aws_ssm_parameter.tls_key) == 0
    error_message = "TLS is on without tls_ca_cert"
  }
}

run "tls_without_a_key_refused" {
  command = plan

  variables {
    tls_ca_cert    = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
    tls_node_certs = { "1" = "-----BEGIN CERTIFICATE-----\nNODE1\n-----END CERTIFICATE-----\n" }
  }
  expect_failures = [aws_ssm_parameter.tls_key]
}

run "existing_network" {
  command = plan

  variables {
    existing_network = {
      vpc_id         = "vpc-0123456789abcdef0"
      subnet_ids     = ["subnet-0123456789abcdef0"]
      route_table_id = "rtb-0123456789abcdef0"
    }
  }
  assert {
    condition     = length(aws_vpc.this) == 0 && length(aws_subnet.this) == 0 && length(aws_internet_gateway.this) == 0 && length(aws_route_table.this) == 0 && length(aws_vpc_endpoint.s3) == 0
    error_message = "with existing_network the module must build no network"
  }
  assert {
    condition     = aws_instance.coordinator["1"].subnet_id == "subnet-0123456789abcdef0" && aws_security_group.coordinator.vpc_id == "vpc-0123456789abcdef0"
    error_message = "the coordinators must go into the given subnet and VPC"
  }
  assert {
    condition     = output.route_table_id == "rtb-0123456789abcdef0" && output.vpc_id == "vpc-0123456789abcdef0"
    error_message = "the outputs (peering) must name the given VPC and route table"
  }
}

run "existing_network_subnet_count_must_match" {
  command = plan

  variables {
    existing_network = {
      vpc_id         = "vpc-0123456789abcdef0"
      subnet_ids     = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
      route_table_id = "rtb-0123456789abcdef0"
    }
  }
  expect_failures = [aws_security_group.coordinator]
}

run "existing_network_bad_ids_refused" {
  command = plan

  variables {
    existing_network = {
      vpc_id         = "my-vpc"
      subnet_ids     = ["subnet-0123456789abcdef0"]
      route_table_id = "rtb-0123456789abcdef0"
    }
  }
  expect_failures = [var.existing_network]
}
